#!/usr/bin/env python3
"""inline_report.py PAGE_DIR CHART_JS STATE_JSON OUT_HTML

For the page test only: builds a self-contained report page the way the C
report writer does, by replacing three lines of dashboard.html textually:
  <link rel="stylesheet" href="dashboard.css">  -> <style>CSS</style>
  <script src="chart.js"></script>              -> <script>CHART.JS</script>
  <script src="dashboard.js"></script>          -> <script>window.DISTRO_STATE = JSON;</script>
                                                   <script>DASHBOARD.JS</script>
In the JSON, "</" becomes "<\\/" and "<!--" becomes "<\\u0021--", so no string
in the data can end or confuse the script element.
"""
import sys


def main(page_dir, chart_js, state_json, out_html):
    def read(p):
        with open(p, encoding="utf-8") as f:
            return f.read()

    html = read(page_dir + "/dashboard.html")
    css = read(page_dir + "/dashboard.css")
    js = read(page_dir + "/dashboard.js")
    chart = read(chart_js)
    state = read(state_json).strip().replace("</", "<\\/").replace("<!--", "<\\u0021--")
    for s in (css, js, chart):
        if "</" + "script" in s.lower() or "</" + "style" in s.lower():
            sys.exit("inline_report.py: a file to inline contains a closing tag")
    repl = {
        '<link rel="stylesheet" href="dashboard.css">': "<style>\n" + css + "</style>",
        '<script src="chart.js"></script>': "<script>\n" + chart + "\n</script>",
        '<script src="dashboard.js"></script>':
            "<script>window.DISTRO_STATE = " + state + ";</script>\n<script>\n" + js + "\n</script>",
    }
    out = []
    found = set()
    for line in html.split("\n"):
        key = line.strip()
        if key in repl:
            out.append(repl[key])
            found.add(key)
        else:
            out.append(line)
    missing = set(repl) - found
    if missing:
        sys.exit("inline_report.py: dashboard.html lacks the line(s): %s" % sorted(missing))
    with open(out_html, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
