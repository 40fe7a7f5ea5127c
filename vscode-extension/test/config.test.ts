import assert from "node:assert/strict";
import { test } from "node:test";
import * as vscode from "vscode";
import { localRoot, normalizeUrl, parseClusters, readClusters, writeClusters } from "../src/config";
import { TokenStore } from "../src/tokens";
import * as mock from "./vscode-mock";

test("normalizeUrl keeps scheme, host, port; drops trailing slashes; adds http://", () => {
  assert.equal(normalizeUrl(" http://127.0.0.1:8265/ "), "http://127.0.0.1:8265");
  assert.equal(normalizeUrl("head.example:9000"), "http://head.example:9000");
  assert.equal(normalizeUrl("https://h/ray/"), "https://h/ray");
});

test("normalizeUrl rejects what is no head URL with one line", () => {
  assert.throws(() => normalizeUrl("ftp://h"), /must be an http/);
  assert.throws(() => normalizeUrl("http://"), /is not a URL/);
  assert.throws(() => normalizeUrl("http://h:1/?token=abc"), /token goes in "Rayscope: Set Token"/);
  assert.throws(() => normalizeUrl("http://me:secret@h:1"), /only scheme, host and port/);
});

test("parseClusters de-duplicates and reports invalid entries instead of dropping them", () => {
  const got = parseClusters(["http://a:1/", "http://a:1", 7, "ftp://b"]);
  assert.deepEqual(got.urls, ["http://a:1"]);
  assert.equal(got.invalid.length, 2);
  assert.match(got.invalid[0], /7 is not a string/);
  assert.deepEqual(parseClusters(undefined), { urls: [], invalid: [] });
});

test("clusters are read from and written to the rayscope.clusters setting (global)", async () => {
  mock.settings["rayscope.clusters"] = ["127.0.0.1:8265"];
  assert.deepEqual(readClusters().urls, ["http://127.0.0.1:8265"]);
  await writeClusters(["http://x:1"]);
  assert.deepEqual(mock.settings["rayscope.clusters"], ["http://x:1"]);
  assert.equal(mock.updates.at(-1)?.target, vscode.ConfigurationTarget.Global);
});

test("localRoot: the setting wins, else the first workspace folder", () => {
  mock.settings["rayscope.localRoot"] = "";
  mock.workspace.workspaceFolders = [{ uri: { fsPath: "/work/proj" } }];
  assert.equal(localRoot(), "/work/proj");
  mock.settings["rayscope.localRoot"] = "/elsewhere";
  assert.equal(localRoot(), "/elsewhere");
  mock.settings["rayscope.localRoot"] = "";
  mock.workspace.workspaceFolders = undefined;
  assert.equal(localRoot(), undefined);
});

test("tokens go to secret storage keyed by URL, never to settings", async () => {
  const secrets = new Map<string, string>();
  const store = new TokenStore({
    get: async (k: string) => secrets.get(k),
    store: async (k: string, v: string) => void secrets.set(k, v),
    delete: async (k: string) => void secrets.delete(k),
    onDidChange: (() => ({ dispose() {} })) as never,
  });
  const before = JSON.stringify(mock.settings);
  await store.set("http://a:1", "  tok  ");
  assert.equal(await store.get("http://a:1"), "tok");
  assert.equal(await store.get("http://b:1"), undefined);
  assert.equal(JSON.stringify(mock.settings), before);
  await assert.rejects(store.set("http://a:1", "  "), /token is empty/);
  await store.delete("http://a:1");
  assert.equal(await store.get("http://a:1"), undefined);
});

test("path mappings: workspace <-> worker working_dir, whole directories only, none when pointless", async () => {
  const { pathMappings } = await import("../src/debug");
  const { session } = await import("./helpers");
  assert.deepEqual(pathMappings(session({ working_dir: "/tmp/ray/pkg_1/" }), "/work/proj"), [
    { localRoot: "/work/proj/", remoteRoot: "/tmp/ray/pkg_1/" },
  ]);
  assert.deepEqual(pathMappings(session({ working_dir: "/work/proj" }), "/work/proj/"), []);
  assert.deepEqual(pathMappings(session({ working_dir: "/" }), "/work/proj"), []);
  assert.deepEqual(pathMappings(session({ working_dir: "/tmp/x" }), undefined), []);
});
