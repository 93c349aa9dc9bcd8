// tests/js_member.js - one member of a group through examples/grouppush.js, driven by
// tests/js_recovery.py over stdin/stdout:
//   node tests/js_member.js ws://127.0.0.1:PORT GROUP
// prints "J <epoch> <offset>" once joined, "M <offset> <epoch> <data>" per message handed to
// the application, "U <lost_from> <offset> <epoch>" per unrecovered event, "O"/"C <code>" per
// open/close, "X <code>" per error; it runs until it is stopped.
"use strict";
const GroupPush = require("../examples/grouppush.js");
const [url, group] = process.argv.slice(2);
const WS = typeof WebSocket === "function" ? WebSocket : require("ws");
const gp = new GroupPush(url, { WebSocket: WS, minDelay: 50, maxDelay: 400 });
const out = (s) => process.stdout.write(s + "\n");
gp.on("open", () => out("O"));
gp.on("close", (e) => out("C " + e.code));
gp.on("message", (g, data, m) => { out("M " + m.offset + " " + m.epoch + " " + data); });
gp.on("unrecovered", (e) => out("U " + e.lost_from + " " + e.offset + " " + e.epoch));
gp.on("error", (e) => out("X " + e.code));
gp.join(group).then((r) => out("J " + r.epoch + " " + r.offset), (e) => out("X join " + e.code));
