package xapi

// ReadMultipart is readMultipart, for the fuzz target of package xapi_test.
var ReadMultipart = readMultipart
