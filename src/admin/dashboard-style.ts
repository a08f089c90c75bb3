/** The dashboard's stylesheet, served as `/dashboard.css` (system fonts only: the page must work offline). */
export const DASHBOARD_STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #69707d; --line: #dde1e7; --bg: #f6f7f9; --card: #fff;
  --ok: #1a7f37; --ok-bg: #e6f4ea; --warn: #9a6700; --warn-bg: #fff4d6; --bad: #c0262d; --bad-bg: #fde8e8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; gap: 16px; padding: 10px 20px; background: #1d2330; color: #fff; }
header.top h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
header.top nav { display: flex; gap: 12px; flex-wrap: wrap; font-size: 13px; }
header.top a { color: #c9d4ff; text-decoration: none; }
header.top a:hover { text-decoration: underline; }
header.top input { margin-left: auto; font: inherit; padding: 3px 8px; width: 260px; border-radius: 4px; border: 1px solid #8892a6; background: #fff; color: var(--fg); }
header.top button { font: inherit; padding: 3px 12px; border-radius: 4px; border: 1px solid #8892a6; background: #2d3545; color: #fff; cursor: pointer; }
main { padding: 14px 20px 40px; max-width: 1600px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 12px 16px; margin-bottom: 14px; }
h2 { font-size: 16px; margin: 0 0 8px; }
h3 { font-size: 13px; margin: 14px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
a.raw { font-size: 12px; font-weight: normal; color: var(--muted); margin-left: 6px; }
.bar { display: flex; gap: 18px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.attention { border-left: 4px solid var(--bad); background: var(--bad-bg); padding: 8px 12px; border-radius: 4px; }
.attention h2 { color: var(--bad); font-size: 14px; }
.ok-text { color: var(--ok); margin: 0; }
.where { font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
tr.row-bad td { background: #fff7f7; }
td.v { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; white-space: nowrap; }
td.v.ok { color: var(--ok); }
td.v.warn { background: var(--warn-bg); color: var(--warn); }
td.v.bad { background: var(--bad-bg); color: var(--bad); }
td.err { max-width: 480px; overflow-wrap: anywhere; white-space: pre-wrap; }
.node, .mono, code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
a.node { color: #1f4fbf; }
.small { font-size: 12px; }
.muted { color: var(--muted); }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.ok { background: var(--ok-bg); color: var(--ok); }
.badge.warn { background: var(--warn-bg); color: var(--warn); }
.badge.bad { background: var(--bad-bg); color: var(--bad); }
.badge.muted { background: var(--line); }
ul.lines { margin: 0; padding-left: 18px; }
ul.lines li { overflow-wrap: anywhere; white-space: pre-wrap; }
.attention ul.lines li { margin: 2px 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
`;
