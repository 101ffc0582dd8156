package sandbox

// Routes lists every route of the public API as "METHOD /path" patterns,
// for the contract test that holds them to api/openapi.yaml.
func Routes(s *Sandbox) []string { return s.apiRoutes() }
