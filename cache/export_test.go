package cache

// ReadKey names an enquiry read in the store.
var ReadKey = readKey

// SpillFile is the name of a Tiered store's spill file in its directory.
const SpillFile = spillFile
