package main

import (
	"bytes"
	"html/template"
	"os"
	"path/filepath"
)

// readLayout reads the platform's layout (-layout): an html/template file
// of the platform's page, with {{block "content" .}}{{end}} where each
// enquiry page goes. It is executed with an enquiry.View, so that it
// places .Lang, .Title and .Head as the enquiry package's WithLayout
// says; the content block is the page's .Body.
func readLayout(file string) (*template.Template, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		// The error names the file.
		return nil, usagef("-layout (QC_LAYOUT): %v", err)
	}
	t, err := template.New(filepath.Base(file)).Parse(string(src))
	if err != nil {
		return nil, usagef("-layout (QC_LAYOUT) %s: %v", file, err)
	}
	if t.Lookup("content") == nil {
		return nil, usagef(`-layout (QC_LAYOUT) %s: no {{block "content" .}}{{end}} where the enquiry page goes`, file)
	}
	// The block's own text in the file is what the page replaces.
	if _, err := t.New("content").Parse("{{.Body}}"); err != nil {
		return nil, usagef("-layout (QC_LAYOUT) %s: %v", file, err)
	}
	return t, nil
}

// openAPIUnder is the service's OpenAPI document with its paths, and
// the examples that name them, under prefix: the document is written
// with the default, /quality/, and a prefix is a plain path (parseConfig
// holds it to the characters of a path segment), which YAML reads as
// written.
func openAPIUnder(prefix string) []byte {
	return bytes.ReplaceAll(openAPI, []byte("/quality/"), []byte(prefix))
}
