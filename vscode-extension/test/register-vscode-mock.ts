/** `node --require` hook: `import * as vscode from "vscode"` gets the in-memory mock in the unit tests. */
import Module = require("module");
import * as mock from "./vscode-mock";

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
const mod = Module as unknown as { _load: Loader };
const original = mod._load;
mod._load = function (request, parent, isMain) {
  return request === "vscode" ? mock : original.call(this, request, parent, isMain);
};
