/**
 * Read-only documents of stack dumps (scheme `rayscope-stacks`), and links from their frame lines to
 * the local files. The text is held here, not fetched on open: a dump is an instant, and reopening the
 * tab must show that instant, not a new one (running the command again takes a new dump).
 */
import * as fs from "fs";
import * as vscode from "vscode";
import { localRoot } from "./config";
import { FRAME_LINE, localFile } from "./stacks";

export const STACKS_SCHEME = "rayscope-stacks";

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export class StackDocuments implements vscode.TextDocumentContentProvider, vscode.DocumentLinkProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  /** Per document: the remote roots (workers' working_dir) its frames may be under. */
  private readonly roots = new Map<string, string[]>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  register(): vscode.Disposable {
    return vscode.Disposable.from(
      vscode.workspace.registerTextDocumentContentProvider(STACKS_SCHEME, this),
      vscode.languages.registerDocumentLinkProvider({ scheme: STACKS_SCHEME }, this),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc.uri.scheme !== STACKS_SCHEME) return;
        this.texts.delete(doc.uri.toString());
        this.roots.delete(doc.uri.toString());
      }),
      this,
    );
  }

  /**
   * Show `text` as the document `name` (e.g. "stacks of job 01000000.txt": the tab's title; .txt
   * makes it plain text); a second dump of the same target replaces the first in its open tab.
   */
  async show(name: string, text: string, remoteRoots: string[]): Promise<void> {
    const uri = vscode.Uri.from({ scheme: STACKS_SCHEME, path: `/${name.replace(/\//g, "_")}` });
    const key = uri.toString();
    const had = this.texts.has(key);
    this.texts.set(key, text);
    this.roots.set(key, remoteRoots);
    if (had) this.changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: false });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? "# this stack dump is no longer held: run the command again\n";
  }

  /** `file:line` of each frame line whose file exists here opens that file at that line. */
  provideDocumentLinks(doc: vscode.TextDocument): vscode.DocumentLink[] {
    const local = localRoot();
    const roots = this.roots.get(doc.uri.toString()) ?? [];
    const links: vscode.DocumentLink[] = [];
    for (let i = 0; i < doc.lineCount; i++) {
      const text = doc.lineAt(i).text;
      const m = FRAME_LINE.exec(text);
      if (!m) continue;
      const file = localFile(m[1], local, roots, isFile);
      if (!file) continue;
      const start = text.lastIndexOf(`(${m[1]}:${m[2]})`) + 1;
      const range = new vscode.Range(i, start, i, start + m[1].length + 1 + m[2].length);
      const link = new vscode.DocumentLink(range, vscode.Uri.file(file).with({ fragment: `L${m[2]}` }));
      link.tooltip = `open ${file} at line ${m[2]}`;
      links.push(link);
    }
    return links;
  }

  dispose(): void {
    this.changed.dispose();
    this.texts.clear();
    this.roots.clear();
  }
}
