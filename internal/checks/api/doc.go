// Package api holds the test that keeps the module's public API from
// growing by accident: each public package has a ceiling on its exported
// declarations, counted as
//
//	go doc -all ./PKG | grep -cE '^(func|type|const|var) '
//
// counts them (a function, a method of an exported type, a type, or one
// const or var block). A package above its ceiling fails the test; a
// package under it can lower the ceiling. A new public package needs a
// ceiling, and a reason, in the table.
package api
