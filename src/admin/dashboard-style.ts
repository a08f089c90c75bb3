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
main { padding: 14px 20px 40px; max-width: 1900px; }
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
/* topology view */
.legend { display: flex; gap: 16px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; font-size: 13px; }
.legend label { cursor: pointer; display: inline-flex; align-items: center; gap: 4px; }
.legend .swatch { display: inline-block; width: 22px; height: 0; border-top: 3px solid var(--muted); }
.legend .edge-traffic-shift .swatch { border-top-color: #1f4fbf; }
.legend .edge-access .swatch { border-top: 2px dashed #7a5cc0; }
.legend .edge-failover .swatch { border-top-color: #c26a00; }
.legend .dot { display: inline-block; width: 12px; height: 12px; border-radius: 3px; border: 1.5px solid; vertical-align: -2px; }
.legend .state-connected .dot { background: #bfe5c8; border-color: #1a7f37; }
.legend .state-nack .dot { background: #f4a6a6; border-color: #c0262d; }
.legend .state-absent .dot { background: #e3e6eb; border-color: #8a93a3; }
.topo-wrap { display: flex; gap: 12px; align-items: flex-start; }
.topo-canvas { flex: 1 1 auto; overflow: auto; max-height: 900px; border: 1px solid var(--line); border-radius: 6px; background: #fbfcfd; }
svg.topology { display: block; font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg .cluster-box { fill: #f2f5fa; stroke: #aab4c4; stroke-width: 1.5; }
svg .cluster.stale .cluster-box { stroke: var(--bad); stroke-dasharray: 6 4; }
svg .cluster-name { font-size: 15px; font-weight: 700; fill: var(--fg); }
svg .network { font-size: 12px; font-weight: 600; fill: #1f4fbf; }
svg .cluster-sub { fill: var(--muted); font-size: 11.5px; }
svg .stale-text { fill: var(--bad); font-weight: 600; }
svg .service-box { fill: #fff; stroke: #c5ccd8; }
svg .service-name { font-weight: 600; fill: var(--fg); }
svg .locality { fill: var(--muted); font-size: 10.5px; }
svg .node-name { fill: var(--fg); font-size: 11.5px; }
svg .node-sub { fill: var(--muted); font-size: 10.5px; font-weight: normal; }
svg g.proxy { cursor: pointer; }
svg g.proxy rect { stroke-width: 1.5; }
svg g.proxy.state-connected rect { fill: #bfe5c8; stroke: #1a7f37; }
svg g.proxy.state-nack rect { fill: #f4a6a6; stroke: #c0262d; stroke-width: 2.5; }
svg g.proxy.state-absent rect, svg g.proxy.state-unknown rect { fill: #e3e6eb; stroke: #8a93a3; }
svg g.gw-eastwest g.proxy rect { stroke-dasharray: 5 2; }
svg g.proxy.selected rect { stroke: #1d2330; stroke-width: 3; }
svg g.proxy:focus { outline: none; }
svg g.proxy:focus rect { stroke: #1f4fbf; stroke-width: 3; }
svg .edge-line { fill: none; stroke-width: 1.8; }
svg .edge-label { font-size: 11px; font-weight: 600; paint-order: stroke; stroke: #fbfcfd; stroke-width: 4px; stroke-linejoin: round; }
svg .edge-traffic-shift .edge-line { stroke: #1f4fbf; stroke-width: 2.2; }
svg .edge-traffic-shift .edge-arrow, svg .edge-traffic-shift .edge-label { fill: #1f4fbf; }
svg .edge-access .edge-line { stroke: #7a5cc0; stroke-dasharray: 4 3; stroke-width: 1.2; opacity: .75; }
svg .edge-access .edge-arrow { fill: #7a5cc0; opacity: .75; }
svg .edge-access .edge-label { fill: #7a5cc0; font-weight: normal; font-size: 10px; }
svg .edge-access.highlight .edge-line { stroke-width: 2; opacity: 1; }
svg .edge-access.highlight .edge-label { font-weight: 600; }
svg .edge-failover .edge-line { stroke: #c26a00; stroke-width: 2.2; }
svg .edge-failover .edge-arrow, svg .edge-failover .edge-label { fill: #c26a00; }
aside.panel { flex: 0 0 340px; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: #fff; position: relative; max-height: 900px; overflow: auto; }
aside.panel h3:first-of-type { margin-top: 0; }
aside.panel .panel-close { position: absolute; top: 6px; right: 8px; border: 0; background: none; font-size: 18px; cursor: pointer; color: var(--muted); }
table.compact th, table.compact td { padding: 3px 5px; font-size: 12px; }
ul.edge-list li { margin: 2px 0; font-size: 12.5px; }
`;
