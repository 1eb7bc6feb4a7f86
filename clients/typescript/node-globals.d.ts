// The generated SDK names the fetch type `BodyInit`, which the DOM library declares globally.
// Node 20's types declare fetch, Request and Response globally but not that one; this project
// compiles the SDK with Node's types instead of DOM's, so it takes the same type from undici's.
type BodyInit = import('undici-types').BodyInit;
