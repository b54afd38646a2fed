/** Relative units throughout, one column, wrapping rows: readable at 200 % zoom and on a phone. */
export const APP_CSS = String.raw`
:root { --fg: #1b1f24; --muted: #57606a; --bg: #ffffff; --panel: #f6f8fa; --line: #d0d7de; --accent: #0a58ca;
  --danger: #b42318; --ok: #1a7f37; --warn: #9a6700; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --panel: #161b22; --line: #3d444d; --accent: #58a6ff;
    --danger: #ff7b72; --ok: #3fb950; --warn: #d29922; }
}
* { box-sizing: border-box; }
html { font: 100%/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
body { margin: 0; color: var(--fg); background: var(--bg); }
header { border-bottom: 1px solid var(--line); background: var(--panel); padding: 0.75rem 1rem; display: flex; flex-wrap: wrap; gap: 0.5rem 2rem; align-items: center; justify-content: space-between; }
.brand h1 { margin: 0; font-size: 1.4rem; }
.brand p { margin: 0; color: var(--muted); }
main { max-width: 62rem; margin: 0 auto; padding: 1rem; }
h2 { font-size: 1.3rem; margin: 0.5rem 0 0.75rem; }
h2:focus { outline: none; }
h3 { font-size: 1.1rem; margin: 1.25rem 0 0.5rem; }
.steps { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem; margin: 0; padding: 0; }
.steps .sep { margin-left: 1rem; }
.steps button { background: transparent; border: 1px solid transparent; border-radius: 999px; padding: 0.35rem 0.9rem; font-weight: 600; color: var(--fg); }
.steps button[aria-current="step"], .steps button[aria-current="page"] { background: var(--accent); color: #fff; }
.steps button:disabled { color: var(--muted); opacity: 0.7; }
button, input { font: inherit; }
button { min-height: 2.5rem; padding: 0.4rem 1rem; border-radius: 0.4rem; border: 1px solid var(--line); background: var(--panel); color: var(--fg); cursor: pointer; }
button:disabled { cursor: not-allowed; opacity: 0.55; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { background: var(--danger); border-color: var(--danger); color: #fff; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
input[type="search"], input:not([type]) { width: 100%; max-width: 32rem; padding: 0.45rem 0.6rem; border: 1px solid var(--line); border-radius: 0.4rem; background: var(--bg); color: var(--fg); }
fieldset { border: 1px solid var(--line); border-radius: 0.5rem; margin: 0 0 1rem; padding: 0.5rem 0.75rem 0.75rem; min-width: 0; }
legend { font-weight: 600; padding: 0 0.25rem; }
.field { margin: 0.5rem 0; }
.field label { display: block; font-weight: 600; margin-bottom: 0.2rem; }
.row { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.row input { flex: 1 1 14rem; }
.inline { margin-right: 1.25rem; white-space: nowrap; }
.choices { display: grid; gap: 0.5rem; }
.choice { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; align-items: flex-start; padding: 0.6rem 0.75rem; border: 1px solid var(--line); border-radius: 0.5rem; background: var(--bg); }
.choice:has(input:checked) { border-color: var(--accent); box-shadow: inset 0 0 0 1px var(--accent); }
.choice input[type="radio"] { margin-top: 0.35rem; width: 1.1rem; height: 1.1rem; }
.choice > label { flex: 1 1 20rem; cursor: pointer; }
.choice.off { opacity: 0.7; }
.choice.off > label { cursor: not-allowed; }
.file-choice { margin-top: 0.75rem; }
.file-choice .field { flex-basis: 100%; }
.name { font-weight: 700; font-size: 1.05rem; margin-right: 0.5rem; }
.meta { color: var(--muted); }
.badges { display: flex; flex-wrap: wrap; gap: 0.35rem; margin-top: 0.25rem; }
.badge { display: inline-block; font-size: 0.85rem; padding: 0.05rem 0.5rem; border-radius: 999px; border: 1px solid var(--line); }
.badge.good { color: var(--ok); border-color: var(--ok); }
.badge.warn { color: var(--warn); border-color: var(--warn); }
.badge.bad { color: var(--danger); border-color: var(--danger); }
.muted { color: var(--muted); }
.actions { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 1rem 0; }
.error { border: 1px solid var(--danger); border-left-width: 0.4rem; border-radius: 0.4rem; padding: 0.6rem 0.8rem; margin: 0.75rem 0; }
.error p { margin: 0; }
.error strong { color: var(--danger); }
.error pre, pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.9rem; margin: 0.4rem 0 0; }
details pre { background: var(--panel); padding: 0.6rem; border-radius: 0.4rem; max-height: 24rem; overflow: auto; }
.summary { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0.5rem 0; }
.summary dt { font-weight: 600; }
.summary dd { margin: 0; overflow-wrap: anywhere; }
.progress { border: 1px solid var(--line); border-radius: 0.5rem; padding: 0.75rem; margin: 1rem 0; }
.phase { font-weight: 700; margin: 0 0 0.4rem; }
progress { width: 100%; height: 1.25rem; accent-color: var(--accent); }
.rate { font-variant-numeric: tabular-nums; margin: 0.4rem 0 0; }
.ok { color: var(--ok); font-weight: 700; }
.callout { font-size: 1.25rem; font-weight: 700; border: 2px solid var(--accent); border-radius: 0.5rem; padding: 0.75rem 1rem; }
.checklist { list-style: none; padding: 0; margin: 0; }
.checklist li { padding: 0.3rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.checklist .mark { display: inline-block; width: 1.5rem; font-weight: 700; }
.checklist .pass .mark { color: var(--ok); }
.checklist .fail .mark { color: var(--danger); }
.hotplug { min-height: 1.5rem; color: var(--ok); font-weight: 600; }
.conn { margin: 0; padding: 0 1rem; color: var(--danger); font-weight: 600; }
.conn:empty { display: none; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--panel); }
dialog { max-width: min(36rem, 94vw); border: 1px solid var(--line); border-radius: 0.6rem; padding: 1rem 1.25rem; color: var(--fg); background: var(--bg); }
dialog::backdrop { background: rgba(0, 0, 0, 0.45); }
[hidden] { display: none !important; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;
