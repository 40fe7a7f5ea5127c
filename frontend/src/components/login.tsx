// Asked only when the tab has no token (or a wrong one): the token stays in sessionStorage.
import { useState } from "preact/hooks";
import { setToken } from "../api";

export function Login({ failed, onDone }: { failed: boolean; onDone: () => void }) {
  const [value, setValue] = useState("");
  return (
    <div class="login">
      <form class="card" onSubmit={(e) => { e.preventDefault(); if (value.trim()) { setToken(value); onDone(); } }}>
        <h1><span class="dot" />Rayscope</h1>
        <p>Paste the cluster's token. <code>rayscope status</code> prints the dashboard URL with it
          (<code>…/#token=…</code>), or read the token file it names.</p>
        {failed && <div class="error-box">That token was not accepted.</div>}
        <input type="password" name="token" autoComplete="off" placeholder="token" value={value}
               onInput={(e) => setValue((e.target as HTMLInputElement).value)} autoFocus />
        <button type="submit" class="primary">Open dashboard</button>
      </form>
    </div>
  );
}
