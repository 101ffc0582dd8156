package cache

// ReadKey names an enquiry read in the store.
var ReadKey = readKey
