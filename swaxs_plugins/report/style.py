"""The report's stylesheet, inlined in the page so that it needs no file or network beside its figures."""

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d8dde6; --paper: #ffffff; --ground: #f3f5f8;
        --ok: #1f7a3d; --ok-bg: #e4f4e9; --bad: #b3261e; --bad-bg: #fde8e6; --warn: #8a5300; --warn-bg: #fff4d6;
        --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--ground); color: var(--ink);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 26px; margin: 4px 0 10px; }
h1 small { font-weight: 400; color: var(--muted); font-size: 17px; }
h2 { font-size: 20px; margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 10px; align-items: baseline; }
h3 { font-size: 15px; margin: 18px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
a { color: var(--accent); }
.meta { color: var(--muted); margin: 4px 0 0; }
.meta code { color: var(--ink); }
.state { border-radius: 8px; padding: 12px 16px; margin: 14px 0; font-size: 17px; font-weight: 600; }
.state.ok { background: var(--ok-bg); color: var(--ok); border: 1px solid #a9d8b8; }
.state.bad { background: var(--bad-bg); color: var(--bad); border: 3px solid var(--bad); font-size: 22px; }
.state.bad span { display: block; font-size: 15px; font-weight: 400; margin-top: 4px; }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px;
        margin: 18px 0; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 10px; border-bottom: 1px solid var(--line); }
th { background: var(--ground); font-weight: 600; }
td.num { text-align: right; width: 2.5em; color: var(--muted); }
td.name { white-space: nowrap; font-weight: 600; width: 1%; }
table.quality td.name { width: 25%; white-space: normal; }
code, .hash, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
td code { word-break: break-all; }
.hash { color: var(--muted); word-break: break-all; }
.tag { font-size: 13px; font-weight: 600; border-radius: 12px; padding: 1px 10px; white-space: nowrap; }
.kind { background: #e7eefb; color: var(--accent); }
.status-ok { background: var(--ok-bg); color: var(--ok); }
.status-bad { background: var(--bad-bg); color: var(--bad); }
.status-warn { background: var(--warn-bg); color: var(--warn); }
.muted { color: var(--muted); }
td.missing { color: var(--bad); font-weight: 600; }
.warnings { background: var(--warn-bg); border-left: 5px solid #e0a100; border-radius: 4px; padding: 8px 14px;
            margin: 0 0 12px; color: var(--warn); }
.warnings ul { margin: 4px 0 0; padding-left: 20px; }
.problem { background: var(--bad-bg); border-left: 5px solid var(--bad); padding: 8px 14px; color: var(--bad); }
.figures { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; max-width: 100%; border: 1px solid var(--line); border-radius: 6px; padding: 8px;
         background: #fff; }
figure img { display: block; max-width: 100%; max-height: 620px; width: auto; height: auto; }
figcaption { font-size: 12.5px; color: var(--muted); margin-top: 4px; }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--accent); font-weight: 600; }
pre { background: var(--ground); padding: 10px; border-radius: 6px; overflow-x: auto; max-height: 480px; }
.provenance { display: grid; grid-template-columns: auto 1fr; gap: 2px 14px; margin: 0; }
.provenance dt { color: var(--muted); }
.provenance dd { margin: 0; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; align-items: start; }
table.parameters td.name { font-weight: 500; }
table.inputs { table-layout: fixed; }
table.inputs td { overflow-wrap: anywhere; }
table.inputs td.name { white-space: normal; }
table.inputs th:nth-child(1) { width: 17%; }
table.inputs th:nth-child(2) { width: 47%; }
table.inputs th:nth-child(3) { width: 36%; }
"""
