// Package spill keeps the answers an audit no longer holds in memory in
// a temporary SQLite file (modernc.org/sqlite: pure Go, no cgo), so that
// each distinct product of a catalogue is looked up once however many it
// has, with the audit's memory still bounded by audit.Options.MaxKeys.
//
//	answers, err := spill.New("")        // a file in the system's temporary directory
//	defer answers.Close()                // and the file is gone
//	sum, err := audit.Run(ctx, api, listings, out, &audit.Options{Answers: answers})
//
// The file is scratch space for one run: it is not synced, and Close
// removes it. A resumed run rebuilds it from its checkpoint journal.
package spill
