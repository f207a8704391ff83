#!/usr/bin/env python3
"""check_dom.py DUMP [checks...]: reads a DOM dumped by `chromium --dump-dom`
of the dashboard (web/page) and checks its test hooks. python3 stdlib only.

Prints one summary line, e.g.
    ready=1 live=1 step=25 peers=3 points=26 events=3 runs=1 conn_lost=hidden
and exits 1 naming the first failed check. Checks:
    ready            body[data-ready="1"]
    live=0|1         body[data-live]
    peers=N          N rows #peers tbody tr[data-peer]
    peer=NAME        a row with data-peer=NAME
    min-points=N     #loss-chart[data-points] >= N
    min-events=N     at least N li in #events
    min-step=N       #step[data-step] >= N
    runs=N           N run cards
    conn-lost=shown|hidden
    no-id=ID         no element with that id (markup injected from data)
    event-text=TEXT  some #events li shows TEXT literally
    --print KEY      print only the value of KEY (step, peers, points, ...)
"""
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}


class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # (tag, id)
        self.body = {}
        self.step = None
        self.peers = []
        self.points = None
        self.events = []         # text of each li in #events
        self.ids = set()
        self.conn_lost_hidden = None
        self.runs = 0
        self.markup_in_data = []  # elements found inside #events or #peers that data could inject
        self._li_text = None

    def _inside(self, ident):
        return any(i == ident for _, i in self.stack)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        ident = a.get("id")
        if ident:
            self.ids.add(ident)
        if tag == "body":
            self.body = a
        if ident == "step":
            self.step = a.get("data-step")
        if ident == "loss-chart":
            self.points = a.get("data-points")
        if ident == "conn-lost":
            self.conn_lost_hidden = "hidden" in a
        if "run-card" in (a.get("class") or "").split():
            self.runs += 1
        if tag == "tr" and "data-peer" in a and self._inside("peers") and \
                any(t == "tbody" for t, _ in self.stack):
            self.peers.append(a["data-peer"])
        if tag in ("script", "img", "iframe", "object", "embed", "b", "a") and \
                (self._inside("events") or self._inside("peers") or self._inside("runs")):
            self.markup_in_data.append(tag)
        if tag == "li" and self._inside("events"):
            self._li_text = []
        if tag not in VOID:
            self.stack.append((tag, ident))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag == "li" and self._li_text is not None:
            self.events.append("".join(self._li_text))
            self._li_text = None
        for k in range(len(self.stack) - 1, -1, -1):
            if self.stack[k][0] == tag:
                del self.stack[k:]
                break

    def handle_data(self, data):
        if self._li_text is not None:
            self._li_text.append(data)


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    with open(argv[0], encoding="utf-8", errors="replace") as f:
        d = Dom()
        d.feed(f.read())
        d.close()
    summary = {
        "ready": d.body.get("data-ready", ""),
        "live": d.body.get("data-live", ""),
        "step": d.step if d.step is not None else "",
        "peers": str(len(d.peers)),
        "points": d.points if d.points is not None else "",
        "events": str(len(d.events)),
        "runs": str(d.runs),
        "conn_lost": "" if d.conn_lost_hidden is None else ("hidden" if d.conn_lost_hidden else "shown"),
    }
    args = argv[1:]
    if len(args) == 2 and args[0] == "--print":
        print(summary.get(args[1], ""))
        return 0
    print(" ".join("%s=%s" % kv for kv in summary.items()))

    def fail(msg):
        print("DOM check failed: " + msg)
        return 1

    def as_int(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    if d.markup_in_data:
        return fail("markup from data was rendered as elements: %s" % d.markup_in_data)
    for c in args:
        key, _, val = c.partition("=")
        if key == "ready":
            if summary["ready"] != "1":
                return fail("body data-ready is %r, not 1" % summary["ready"])
        elif key == "live":
            if summary["live"] != val:
                return fail("body data-live is %r, not %s" % (summary["live"], val))
        elif key == "peers":
            if len(d.peers) != int(val):
                return fail("%d peer rows %s, expected %s" % (len(d.peers), d.peers, val))
        elif key == "peer":
            if val not in d.peers:
                return fail("no peer row for %r (rows: %s)" % (val, d.peers))
        elif key == "min-points":
            p = as_int(d.points)
            if p is None or p < int(val):
                return fail("loss chart has %r points, expected >= %s" % (d.points, val))
        elif key == "min-events":
            if len(d.events) < int(val):
                return fail("%d events listed, expected >= %s" % (len(d.events), val))
        elif key == "min-step":
            s = as_int(d.step)
            if s is None or s < int(val):
                return fail("#step data-step is %r, expected >= %s" % (d.step, val))
        elif key == "runs":
            if d.runs != int(val):
                return fail("%d run cards, expected %s" % (d.runs, val))
        elif key == "conn-lost":
            if summary["conn_lost"] != val:
                return fail("#conn-lost is %r, expected %s" % (summary["conn_lost"], val))
        elif key == "no-id":
            if val in d.ids:
                return fail("an element with id %r exists (markup injected from data?)" % val)
        elif key == "event-text":
            if not any(val in e for e in d.events):
                return fail("no event shows the text %r" % val)
        else:
            return fail("unknown check %r" % c)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
