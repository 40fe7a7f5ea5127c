/** The slice of the `vscode` API the extension's tree, config and tokens use, in memory. */

export class EventEmitter<T> {
  private listeners = new Set<(e: T) => void>();
  event = (listener: (e: T) => void) => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export enum TreeItemCollapsibleState {
  None = 0,
  Collapsed = 1,
  Expanded = 2,
}

export class TreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  contextValue?: string;
  iconPath?: unknown;
  command?: unknown;
  constructor(
    public label: string,
    public collapsibleState: TreeItemCollapsibleState = TreeItemCollapsibleState.None,
  ) {}
}

export class ThemeIcon {
  constructor(public id: string) {}
}

export class ThemeColor {
  constructor(public id: string) {}
}

export class MarkdownString {
  constructor(public value: string) {}
}

export enum ConfigurationTarget {
  Global = 1,
  Workspace = 2,
  WorkspaceFolder = 3,
}

/** Settings the tests set directly: `settings["rayscope.clusters"] = [...]`. */
export const settings: Record<string, unknown> = {};
export const updates: { key: string; value: unknown; target: ConfigurationTarget }[] = [];

export const workspace = {
  workspaceFolders: undefined as { uri: { fsPath: string } }[] | undefined,
  getConfiguration(section: string) {
    return {
      get<T>(key: string): T | undefined {
        return settings[`${section}.${key}`] as T | undefined;
      },
      async update(key: string, value: unknown, target: ConfigurationTarget) {
        settings[`${section}.${key}`] = value;
        updates.push({ key: `${section}.${key}`, value, target });
      },
    };
  },
};
