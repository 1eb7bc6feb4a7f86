/** The server's version, from package.json (shown in /health and the OpenAPI document). */
export const VERSION: string = require('../../../package.json').version;
