/** Head tokens in VS Code's SecretStorage (OS keychain), one per head URL; never in settings. */
import type * as vscode from "vscode";

const PREFIX = "rayscope.token:";

export class TokenStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  get(url: string): Thenable<string | undefined> {
    return this.secrets.get(PREFIX + url);
  }

  async set(url: string, token: string): Promise<void> {
    const value = token.trim();
    if (!value) throw new Error("the token is empty");
    await this.secrets.store(PREFIX + url, value);
  }

  delete(url: string): Thenable<void> {
    return this.secrets.delete(PREFIX + url);
  }
}
