/* grouppush.h - v0.2.0 - multi-process WebSocket group push in one C header - public domain or MIT
   (licence at the end of this file)

   CONTENTS
   ========
   QUICK START . COMPILE-TIME OPTIONS . COMPONENTS . THE APP PROTOCOL . PROTOCOL V2 .
   AUTHORIZATION . USERS AND MEMBER COUNTS . SUBPROTOCOLS . THE CHANNEL SERVER'S COMMANDS .
   GROUP STREAMS . DELIVERY GUARANTEES . THREADS, FORK, SIGNALS . MEMORY AND LIFETIME . ERRORS AND
   LOGGING . LIMITS . VERSION HISTORY; then the declarations, one block per component (search
   for ">>name"), the implementation in the same order, and the licence.

   A WebSocket server (RFC 6455) over poll(2)/epoll(7), a group registry, a Redis-protocol
   pub/sub channel (server and client) and a process supervisor: everything needed to spread
   WebSocket clients over N worker processes on one port and push a message to every member
   of a group, whichever worker holds it. No dependency but libc (glibc or musl; Linux for
   epoll, SO_REUSEPORT and the supervisor's prctl; the rest is POSIX).

   In exactly one C or C++ file:
       #define GROUPPUSH_IMPLEMENTATION
       #include "grouppush.h"
   Everywhere else just #include "grouppush.h".

   QUICK START - an echo server (examples/echo.c is the same with flags)
   ===========
       #define GROUPPUSH_IMPLEMENTATION
       #include "grouppush.h"
       static void on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data,
                              void *user) {
           (void)user;
           gp_ws_send(srv, id, opcode, data.ptr, data.len);   // copied; flushed after the batch
       }
       int main(void) {
           gp_loop *loop; gp_ws_server *srv; gp_ws_config cfg = {0};
           cfg.on_message = on_message;
           if (gp_loop_create(NULL, &loop) || gp_ws_create(loop, &cfg, &srv) ||
               gp_ws_listen(srv, "127.0.0.1", 9001, 0)) return 1;
           return gp_loop_run(loop);                           // until gp_loop_stop()
       }

   The seed's whole deployment (supervisor + channel server + 8 workers on :1234) is
   examples/grouppush_server.c: `make run`, then open examples/index.html.

   COMPILE-TIME OPTIONS (define before the include; only GP_API/GP_STATIC must agree
   across files - no option changes a declaration or a struct layout)
   ====================
   GP_API                 decoration of public functions (default extern)
   GP_STATIC              every function static: a private copy per file
   GP_MALLOC(ctx,sz) GP_REALLOC(ctx,p,old,new) GP_FREE(ctx,p,sz)
                          all three or none (default libc); ctx is gp_loop_config.alloc_ctx
   GP_ASSERT(c)           API misuse only, never peer input (default: assert's behaviour -
                          message on stderr, abort(); nothing with NDEBUG - without printf)
   GP_LOG_LEVEL           compile-time ceiling of log calls (default GP_LOG_INFO); the hook
                          and the runtime level are gp_loop_config fields
   GP_USE_EPOLL           epoll backend on Linux (default: poll, everywhere)
   GP_NO_SUPERVISOR       drop fork/signal code: gp_sup_run() returns GP_ERR_INVAL
   GP_NO_RESOLVER         no getaddrinfo (about 20 KiB of a static musl program): channel
                          hosts must be IPv4/IPv6 literals or localhost (a name is refused by
                          gp_chancli_parse_url). Listening never resolves names.
   GP_USE_MBEDTLS         wss:// through mbedTLS 2.28 or 3.x: set gp_ws_config.tls_cert and
                          tls_key (PEM files); link -lmbedtls -lmbedx509 -lmbedcrypto.
                          Without it a tls_cert makes gp_ws_create return GP_ERR_INVAL.
   The implementation needs POSIX + Linux declarations: when no feature macro is defined it
   defines _GNU_SOURCE itself, which works only if grouppush.h comes before any libc header
   in that file; otherwise define _GNU_SOURCE (or _POSIX_C_SOURCE 200809L) first.

   COMPONENTS (sections of the header, in data-flow order; each usable alone)
   ==========
   util     gp_buf, SHA-1, SHA-256, HMAC-SHA256, base64, incremental UTF-8 validator,
            gp_fmt/gp_print (printf without stdio), gp_parse_uint              (pure)
   loop     gp_loop: poll|epoll readiness, timers (min-heap), after-batch hooks
   net      non-blocking listen (SO_REUSEADDR, SO_REUSEPORT, IPv4/IPv6) and connect
   stream   (private) the one non-blocking stream under every socket the header owns: an
            output ring of refcounted gp_msg frames, corked flush (one sendmsg per stream
            per batch), a transport (plain, or TLS from >>tls), the dirty list
   tls      (private) the mbedTLS transport, with GP_USE_MBEDTLS
   http     gp_http_parse_request / gp_http_parse_head: the upgrade request, zero-copy (pure)
   wscodec  frame header parse/encode, masking, RFC 6455 checks              (pure)
   ws       gp_ws_server: frames, fragments, ping/pong, close handshake, keep-alive, limits,
            send queue of shared gp_msg frames; optional TLS (sections ws, upgrade: the
            handshake and HTTP replies, wsserver: accept, I/O, timeouts, the API)
   group    gp_groups: group name -> connections; O(1) join/leave; encode-once broadcast
   chan     RESP2/RESP3 parser and encoders                                   (pure)
   chansrv  gp_chansrv: a Redis-compatible pub/sub broker (commands below), encode-once
            fan-out: one RESP push per publish, shared by every subscriber's queue
   chancli  gp_chancli: one RESP3 connection to gp_chansrv or a real Redis (>= 6):
            subscribe/publish with callbacks, reconnect, re-subscribe, held publishes
            (each encoded once; a reconnect queues the same frames again)
   sup      gp_sup_run: fork N workers (+ a channel server), respawn, reload, stop, status
   json     gp_json_parse / find / unescape / put_string: a minimal RFC 8259 reader (pure)
   jwt      gp_jwt_verify / gp_jwt_match: JSON Web Tokens signed with HS256      (pure)
   app      gp_app: the group-push JSON protocol, wiring ws + group + chancli

   THE APP PROTOCOL (gp_app; one JSON object per text frame)
   ================
   {"cmd":"add_group","group_id":"123"}       join (idempotent; no reply)
   {"cmd":"leave_group","group_id":"123"}     leave (no reply)
   {"cmd":"send_to_group","group_id":"123","message":"text"}
       every member of group 123, on every worker (and every machine on the same channel),
       gets one text frame whose payload is exactly `text` - the sender too if a member;
       with "exclude_self":true every member but the sending connection.
   {"cmd":"send_to_uid","uid":"U","message":"text"}
       every connection of user U (see USERS), on every worker and machine, gets `text`.
   {"cmd":"group_info","group_id":"123"}
       answers {"cmd":"group_info","group_id":"123","members":N}: the members of the group
       in the whole deployment (see MEMBER COUNTS), about info_window_ms (100 ms) later.
   {"cmd":"auth","token":"JWT"}                present a token (see AUTHORIZATION; no reply)
   group_id is a non-empty string or an integer (123 and "123" are the same group).
   Errors get one reply frame {"error":"CODE","detail":"..."} and the connection stays open:
       bad_json             not valid JSON, not an object, or over 64 tokens / 32 levels
       bad_cmd              cmd missing or not a string
       unknown_cmd          cmd is none of the above (auth too, when tokens are off)
       bad_group_id         group_id missing, empty, a bad escape, or not string/integer
       group_id_too_long    over max_group_id bytes (default 128)
       bad_message          message missing or not a string
       message_too_long     over max_message bytes (default 65536) once unescaped
       bad_exclude_self     exclude_self is not true or false
       bad_uid              uid missing, empty, a bad escape, or not a string
       uid_too_long         over max_uid bytes (default 128)
       too_many_groups      over max_groups_per_conn (default 1024)
       unauthorized         tokens are on and this connection has no valid token (every
                            command but auth), or auth's token was refused (the detail says
                            why: "token expired", "bad signature", "alg is not HS256", ...)
       token_expired        the connection's token expired: send a fresh one with auth
       forbidden            the token's claims or a hook refused this group, user or message
       binary_not_supported a binary frame
       channel_unavailable  the channel is down and the held-publish backlog is full, or
                            (group_info) the channel is down
       server_busy          out of memory, or over max_info_queries group_info at once
       needs_v2             an "id" or "since" on a connection without grouppush.v2
     protocol v2 only (below):
       bad_id               id not a number or a string of at most 64 bytes (answered
                            without an id)
       bad_since            since not {"offset": integer 0..2^62-1, "epoch": string <= 64 B}
       join_in_progress     an add_group of that group is still waiting for the channel
       channel_error        the channel refused grouppush's script (a server without Lua)
   Frame-level errors close the connection with the RFC 6455 code: 1002 protocol, 1007 bad
   UTF-8, 1009 over ws.max_message (default 1 MiB). On close a connection leaves all groups.
   Group G travels on channel "group:G" (the prefix is a setting) with the raw message as
   payload, so any Redis client can push: redis-cli -p 2206 PUBLISH group:123 hi. A payload
   that is not UTF-8 (only a backend can publish one: send_to_group carries JSON text) is
   delivered as a binary frame with exactly those bytes; everything else as a text frame.
   exclude_self travels as an envelope: the bytes FF 47 50 58 31 00 ("\xffGPX1\0"), the
   sending worker's 8-byte instance id and the connection's 4-byte id, then the message;
   the workers strip it. Only a binary payload of at least 18 bytes that starts with those
   6 bytes is read as one (0xFF never starts UTF-8 text), so what backends publish arrives
   as it was sent.

   AUTHORIZATION (opt-in: with nothing configured anyone may join and push, as in the seed)
   =============
   Hooks for C programs that embed gp_app (gp_app_config; synchronous, on the worker's loop):
     on_connect(app, id, c, user)   the upgrade request: c->path, c->query, c->req (headers,
                                    gp_http_header_get), c->peer ("IP:PORT"). Return 0 to
                                    accept or an HTTP status (401, 403, ...) to refuse; may
                                    set c->uid/c->uid_len (the user, see USERS) and c->data
                                    (gp_app_conn_data; given back once to on_release, after
                                    ws.on_close or when the upgrade fails after all).
     on_join(app, id, group, len, user)                      GP_APP_ALLOW or GP_APP_DENY
     on_publish(app, id, group, len, msg, mlen, user)        send_to_group
     on_send_to_uid(app, id, uid, len, msg, mlen, user)      send_to_uid
   A denial answers {"error":"forbidden",...}; the connection and its other groups go on.
   leave_group and group_info ask no hook. examples/auth_hooks.c is a complete program.
   Tokens (gp_app_config.token_secret; grouppush_server --token-secret FILE): JWT (RFC
   7519) in the compact JWS form, alg HS256 only (gp_jwt_verify: "none", HS384/512, RS*,
   ES*, PS*, a crit header are refused). A client presents one in the URL, ws://host/?token=
   JWT (browsers cannot set headers on a WebSocket), or as a command {"cmd":"auth",
   "token":"JWT"}, at any time; without a valid one every other command answers
   unauthorized, and a connection that has none token_grace_ms after it opened (default
   30 s) is closed with 1008. A refused ?token= is said once, as an unauthorized error
   frame, when the connection opens. A token in the URL can end up in a proxy's access log:
   where the client can, send it with auth, and keep exp short either way. Claims:
     sub          string: the user id this connection is bound to (see USERS)
     exp, nbf     NumericDate (integer seconds; a fraction is cut off): valid from nbf
                  until before exp, give or take token_skew_s (default 0); both optional
     groups       array of Redis glob patterns: the groups it may join (and group_info)
     publish      array of patterns: the groups it may send_to_group to
     send_to_uid  array of patterns: the user ids it may send_to_uid to
   An absent list allows nothing ("*" allows everything). A claim of the wrong type, a
   claim given twice, a token over max_token bytes (default 4096), broken base64url or a
   payload that is not a JSON object: unauthorized. Other claims are not checked (iss,
   aud, iat, jti: check them in on_connect if you need to). Key rotation: token_secret[1]
   (--token-secret given twice) is a second key; a token signed with either is good.
   When the token of an open connection expires, it gets {"error":"token_expired",...}
   and then has token_grace_ms to send a fresh auth; meanwhile it stays in its groups
   and receives, but its commands answer token_expired; after that: close 1008. A fresh
   token replaces the claims: groups its "groups" no longer allow are left. A token for
   another sub than the connection's user is refused (unauthorized), as is a refused
   refresh, which leaves the old (still valid) token in force. Hooks and tokens combine:
   the token's claims first, then the hook. Time is the wall clock (CLOCK_REALTIME).

   USERS AND MEMBER COUNTS
   =======================
   Users: a token's sub (or on_connect's uid) binds a connection to user U, one user per
   connection, for its lifetime. The worker subscribes to channel "user:U" (the prefix is
   gp_app_config.user_prefix) while it has a connection of U, so send_to_uid, user code's
   gp_app_send_to_uid and any backend's PUBLISH user:U text reach every connection of U on
   every worker and every machine on the channel, with the guarantees of a group.
   Member counts: group_info asks every worker of the deployment, through two control
   channels (control_prefix, default "gp:ctl:"): the asking worker publishes the query on
   "gp:ctl:q", to which every worker subscribes; each worker with members in the group
   publishes its count on the asker's own "gp:ctl:r:ID"; info_window_ms (default 100 ms)
   after the query the asker sums what came and answers. So the count is right, within that
   delay, for every join and leave its worker had handled when the query reached it (a
   join sent before the query on another connection counts once its worker read it), and a
   worker that dies (kill -9, a crash) counts nothing from that moment: its members are
   gone with it and it answers no query. The price: an answer slower than info_window_ms
   (an overloaded worker or Redis) is not counted; one query costs one PUBLISH per worker
   that has members.

   PROTOCOL V2 (subprotocol "grouppush.v2", echoed; DESIGN 7) - offsets, replies, recovery
   ===========
   A client that offers the subprotocol grouppush.v2 gets it (gp_app speaks it first in its
   list, before ws.protocols); every other client is v1, exactly as above. In v2:
   - a push is {"group":"G","offset":N,"epoch":"E","data":"M"}: N is the message's offset
     in G's stream, E the stream's epoch (GROUP STREAMS). A message that is not UTF-8 comes
     as "data_b64":"<base64 of its bytes>" instead of "data" (byte for byte). A backend's
     plain PUBLISH (no offset) comes as {"group":"G","data":"M"}: outside the stream, never
     replayed.
   - any command may carry "id" (a number, echoed as written, or a string of at most 64
     bytes); a command with an id gets exactly one answer: {"id":I,"ok":true,...} or
     {"id":I,"error":"CODE","detail":"..."} (the codes above). Without an id, v1's rule:
     no answer on success.
   - {"cmd":"add_group","group_id":"G","id":1} -> {"id":1,"ok":true,"group_id":"G",
     "epoch":"E","offset":N}: the pushes of G that follow start at N+1.
   - {"cmd":"add_group","group_id":"G","id":2,"since":{"offset":K,"epoch":"E"}} ->
     {"id":2,"ok":true,"group_id":"G","recovered":true,"epoch":"E","offset":K} and then
     every message of G after K, in order, the replay joined to the live stream without gap
     or duplicate; or "recovered":false with the current offset (another epoch, K older
     than the history, more than max_recover behind, K beyond the stream) and the pushes go
     on from there. An add_group of a group the connection is in already answers the same
     way from what it has been given.
   - {"cmd":"send_to_group",...,"id":3} -> {"id":3,"ok":true,"offset":N} once the message
     is in the group's stream (the channel's answer). leave_group with an id -> {"id":I,
     "ok":true}.
   - auth and send_to_uid with an id -> {"id":I,"ok":true}; group_info with an id ->
     {"id":I,"ok":true,"group_id":"G","members":N} (without one, v1's group_info answer). A
     push to the connection's user (USERS) is {"user":"U","data":"M"} ("data_b64" likewise):
     outside every group stream, never replayed.
   How the merge works: the member is joined (and its worker subscribed) before the channel
   is asked for the position or the history, on the same channel connection, so every
   message after the answer arrives live; what arrives live before the answer is held for
   that member and merged by offset; each member's word (gp_group_word) keeps the last
   offset it got, and a live message at or below it is dropped. examples/grouppush.js is a
   client that reconnects and rejoins with since.

   SUBPROTOCOLS (RFC 6455 1.9, 4.2.2)
   ============
   gp_ws_config.protocols lists the subprotocols a server speaks, most preferred first; the
   first one the client offers (names compare case-sensitively, RFC 7936) is selected;
   on_accept sees it in acc->protocol and may pick another the client offered. A client
   that offers only names the server does not speak gets its 101 without
   Sec-WebSocket-Protocol: the server never claims a protocol it does not speak, and the
   client decides - browsers and Node's ws then fail the connection (new WebSocket(url,
   ['chat']): error, close 1006), python-websockets and most libraries carry on with none.
   gp_app speaks the seed's protocol with no subprotocol, so a client that asks for none
   always works; grouppush_server --subprotocols chat,... (gp_app_config ws.protocols)
   accepts such names for it (as v1). grouppush.v2 (PROTOCOL V2) is a subprotocol of its
   own, spoken only to a client that offers it.

   THE CHANNEL SERVER'S COMMANDS (gp_chansrv; a pub/sub-only Redis, Redis 7.0 the reference)
   =============================
   Connection  PING [msg]  ECHO msg  AUTH [user] pass  HELLO [2|3 [AUTH user pass]
               [SETNAME name]]  SELECT 0 (one database; any other index: "DB index is out of
               range")  QUIT  RESET
   Pub/sub     SUBSCRIBE  UNSUBSCRIBE  PSUBSCRIBE  PUNSUBSCRIBE  PUBLISH (reply: receivers)
               PUBSUB CHANNELS [pattern] | NUMSUB [ch ...] | NUMPAT | HELP
   Transaction MULTI  EXEC  DISCARD (queued commands run in order, nothing in between; a
               command rejected while queueing makes EXEC answer EXECABORT)  WATCH key ...
               UNWATCH (accepted; there are no keys, so no EXEC is ever aborted by a WATCH)
   Clients     CLIENT ID | GETNAME | SETNAME name | SETINFO LIB-NAME|LIB-VER v | INFO |
               LIST [TYPE normal|pubsub] [ID id ...] | REPLY ON|OFF|SKIP (pushes and
               (un)subscribe notifications still arrive) | HELP
   Server      INFO [section ...] (server clients memory persistence stats replication
               keyspace; redis_version:7.0.0, the Redis whose pub/sub this follows, so
               clients' version checks pass; used_memory is the RSS)  COMMAND [COUNT | DOCS
               [name ...] | INFO [name ...] | LIST | HELP]  CONFIG GET pattern ... (databases
               maxclients maxmemory maxmemory-policy save appendonly timeout proto-max-bulk-len
               port client-output-buffer-limit notify-keyspace-events cluster-enabled; read
               only) | HELP
   Scripting   EVAL  EVALSHA  SCRIPT LOAD | EXISTS | FLUSH | HELP: grouppush's two scripts
               (GROUP STREAMS) and no other - run natively, with the replies Redis gives
   Anything else gets Redis's error text ("unknown command", "wrong number of arguments",
   "unknown subcommand ... Try X HELP."); RESP2 subscribed connections get Redis's
   "only (P|S)SUBSCRIBE / ... are allowed in this context". Inline and multibulk requests.
   Each command is one row of the table gp__cs_commands in >>chansrv.

   GROUP STREAMS (offsets, epochs, history; where they live: DESIGN 7)
   =============
   Every group has one stream for the whole deployment: each message published through it
   gets the next offset (1, 2, ...; assigned by the channel, atomically with the publish, so
   every member on every worker and machine sees the same offset for the same message) and
   the stream has an epoch (a short string; a new one whenever the stream cannot continue).
   A publish with an offset is one command, the same for the built-in channel server and a
   real Redis (>= 6), which a backend in any language can send:
       EVAL <GP_CHAN_SCRIPT_PUBLISH> 2 gp:{group:G}:m gp:{group:G}:h group:G <payload>
            <history size> <history ttl s> <epoch candidate> <meta ttl s>
       -> [offset, epoch]        (EVALSHA <sha1> ... once the script is loaded)
   GP_CHAN_SCRIPT_PUBLISH and GP_CHAN_SCRIPT_HISTORY are Lua texts defined in this header
   (gp_chan_script_sha gives their SHA-1; redis-cli: --eval, or SCRIPT LOAD "$(...)";
   examples/publish.c --offset is a C backend that sends it). The
   script publishes "\xFFgp1 <offset> <epoch> <payload>" on group:G; workers strip that
   head, so v1 members get exactly <payload>. A plain PUBLISH group:G <payload> keeps
   working: delivered at once, without offset or history (a plain payload must not begin
   with the byte 0xFF followed by "gp1 "). Epoch candidate: a fresh random string per call
   (Redis keeps the first one it sees until the group's meta key expires).
   Where the streams live and what survives what:
   - built-in channel server: a gp_chansrv_store (offsets, epochs, the last `depth`
     messages of each group, within max_bytes), in memory owned by the master
     (grouppush_server maps it before forking): a kill -9 or restart of the channel
     server keeps everything; a restart of the whole deployment starts new epochs.
   - Redis: the keys above (a hash with the offset and epoch, a stream capped at the
     history size, expiring history ttl after the last message; the hash after the meta
     ttl, max(history ttl, 1 day)). They survive any worker or deployment restart; a Redis
     restart without persistence loses them, and the next use of a group starts a new epoch.
   The history of a group expires history_ttl after its last message (both backends).

   DELIVERY GUARANTEES
   ===================
   Protocol v2 with a history (history_size > 0), both backends: a member that reconnects
   with since = the last offset it got gets every message of the group after it exactly
   once, in offset order - after a network drop, its worker killed, a reload, a slow-reader
   drop, the built-in channel server killed (its streams live in the master), or the whole
   deployment restarted on Redis - as long as the gap is within the history (the last
   history_size messages, none older than history_ttl since the group's last message, at
   most max_recover); otherwise it is told recovered:false and goes on from the current
   offset. Nothing is lost silently. Publishes: a send_to_group acked with an offset is in
   the stream; one whose channel connection dropped before the answer is sent again after
   the reconnect, so it may be in the stream twice, under two offsets (at least once).
   A member that stays connected while its worker's channel connection drops (a Redis
   restart of connections, a network blip) loses nothing either: the worker sees the gap
   in the offsets (at the next message past it, and whenever its channel comes back), holds
   the group's v2 deliveries, fetches the history after the last offset it saw, and gives
   every v2 member what it lacks, in order. What each backend keeps, and what loses it:
   GROUP STREAMS. tests/v2_recovery.py runs each of these faults, `make soak
   SOAK_MODE=recovery` all of them in turn for as long as asked; examples/grouppush.js is
   the reconnecting client.
   The rest of this section is v1's (and v2's live delivery):
   - Per publisher, messages reach each member in publish order (one channel connection
     per worker, processed in order; one TCP stream per member).
   - At most once, like Redis pub/sub. A join takes effect for the messages the channel
     handles after that worker's SUBSCRIBE (sent when the group's first local member joins),
     so "join, then send" on one connection always reaches the sender.
   - Channel failover: while the channel is down, a worker holds its publishes (default
     10000 / 64 MiB, then channel_unavailable), reconnects (first retry at once, then 25 ms
     doubling to 1 s), re-subscribes, and only then sends the held publishes, in order.
     Publishes the channel had not acknowledged when the connection dropped are sent again,
     so what a dying channel server never read is not lost. The built-in channel server keeps
     every message published in its first 2 s (grace_ms) and hands a late subscriber those it
     could not have seen, so a kill -9 of the channel server loses nothing a worker held back
     or had not seen acknowledged. The hand-over goes only to the (P)SUBSCRIBE commands of a
     connection's opening pipeline (before any command but HELLO, AUTH, CLIENT): the
     re-subscription gp_chancli sends behind HELLO, every channel in one command, ended by a
     PING. Each kept message goes once, in publish order. A SUBSCRIBE after that is a new
     join and gets only what is published after it. The one exception to at-most-once: a
     message the dying server delivered but did not acknowledge arrives twice; and what it
     had acknowledged but not yet written to every subscriber is lost. Both need the kill to
     land between the server reading a publish and the end of the batch that writes its
     copies and its acknowledgement (one flush loop; `make soak` measures how often).
   - With an external Redis there is no grace period: a message published by one worker
     after a Redis restart but before another worker re-subscribed is not delivered there.
   - Slow readers are kept, non-readers dropped (Redis's client-output-buffer-limit, with
     "for a while" measured as time without progress): a member's send queue may pass the
     soft limit ws.max_send_queue (4 MiB) as long as the member keeps reading - one that
     writes nothing for ws.slow_timeout_ms (10 s) while over it is disconnected - and is
     disconnected at once past the hard limit ws.max_send_queue_hard (64 MiB); on_close
     gets 1008. (Linux reports room in a socket once a third of its send buffer is free:
     up to ~1.4 MB, so "keeps reading" means about that much per slow_timeout_ms.) No other member is slowed or loses anything. Queued frames are shared
     (a message is encoded once for all members of a worker), so the queues of a worker
     hold at most what was published in the last hard-limit's worth of bytes per group,
     plus 16 bytes per queued message per member - not members x burst.

   THREADS, FORK, SIGNALS
   ======================
   No global state outside >>sup: every object hangs off the gp_loop it was created on;
   one loop per thread, objects are not thread-safe. No loop crosses a fork: gp_sup_run
   forks first and each child builds its own (and closes every fd the master's loop
   watches, so what gp_sup_config.on_master opened stays the master's). Writes use
   MSG_NOSIGNAL. Only gp_sup_run (in the master: INT, TERM, HUP, CHLD, USR2, USR1 ->
   on_reopen; children ignore USR1) and gp_sup_watch (in a child: TERM) install signal
   handlers; they write to a self-pipe read by the loop. The supervisor
   keeps its self-pipe and the ps title area in statics (one supervisor per process).
   Master: SIGINT/SIGTERM stop the workers first (clients get close 1001), then the channel
   server once no worker is left, so no worker sees its channel vanish while it drains
   (SIGKILL to all after stop_timeout_ms). Children ignore SIGINT: a Ctrl-C reaches the
   whole process group and only the master acts on it. SIGHUP replaces workers one at a
   time (the new one first, then the old one stops), SIGUSR2 prints the status JSON. A
   crashed child is respawned at once, or after 100 ms doubling to 5 s if it had run under
   1 s (crash loop). Children die with the master (PR_SET_PDEATHSIG).
   Shared status: one gp_sup_stats slot per process (master, channel server, worker by
   index) plus gp_sup_config.extra_bytes of the application's own per slot, readable by
   every process (gp_sup_slot); the master refreshes each slot's rss_kb once a second.
   examples/grouppush_server.c builds its /status, /metrics and dashboard from them.
   Fail fast: a child that exits before every child has called gp_sup_ready is a failed
   start - the master logs it, stops the others and gp_sup_run returns 1.
   One deployment per address: with listen_port set, the master owns one SO_REUSEPORT
   socket per worker, so respawns and reloads never refuse or reset a connection. As
   SO_REUSEPORT would let a second master of the same user join that port silently (and
   split connections and groups between two unrelated deployments), the master first binds
   the address once WITHOUT SO_REUSEPORT and closes it: while anything listens there (a
   deployment, any program) that bind fails, gp_sup_run logs "cannot listen on HOST:PORT:
   Address already in use (...)" and returns 1 before forking. Respawns and reloads take
   over the master's sockets and never check again. No lock is held: two masters started
   in the same instant on a free port could both pass the check.

   MEMORY AND LIFETIME
   ===================
   Objects are opaque and come in create/destroy pairs; configs are copied (strings too),
   zero fields mean the default. Connections are gp_conn_id values (slot + generation): a
   stale id gives GP_ERR_CLOSED, never a crash. Received data (gp_bytes in on_message) is
   borrowed until the callback returns. Sent data is copied (gp_ws_send) or referenced
   (gp_ws_send_msg: a refcounted gp_msg encoded once, shared by every member's queue).
   Writes are corked: queued during a batch of events and flushed once per connection with
   one sendmsg() after it. Closing is a request (gp_conn_close): safe in any callback,
   on_close fires once, last, at the end of the batch (when even the few bytes to defer it
   cannot be allocated, at once, inside the call that closed the connection; gp_group_send
   is safe against that). An idle connection costs about 180 bytes of user-space memory,
   about 300 once it is in a group (no read buffer: one 64 KiB buffer per server;
   BENCHMARKS.md measures it).

   ERRORS AND LOGGING
   ==================
   Fallible calls return a gp_result (GP_OK = 0, negative errors; gp_result_string());
   GP_ERR_IO leaves errno as the system call set it. Pure parsers return > 0 bytes used,
   0 need more, < 0 an error. A call that fails never calls its callback. Peer input never
   reaches an assert: it closes that one connection with the right code; out of memory costs
   one connection (1011), never the process. Logging goes through gp_loop_config.log_fn
   (gp_log_stderr is ready-made; NULL = silent). What repeats is logged at a bounded rate:
   a lost channel is one warning at once ("channel H:P lost: ...; reconnecting"; a channel
   that never came up: "unreachable" after 1 s), then while the retries (with backoff) fail
   at most one "still down after S s (N more failed attempts), last: ..." line per
   gp_chancli_config.log_interval_ms (default 10 s), and "back after S s" when it returns;
   error replies from the channel likewise.

   LIMITS (defaults: the one place they are written for users; every one is a config
   field, where 0 means this default; in code each is set once, in gp__*_defaults)
   ======
   ws       max_conns 10000 (then 503) | max_handshake 8192 B (431) | handshake_timeout
            10 s (408) | max_message 1 MiB (1009) | max_send_queue 4 MiB soft + slow_timeout 10 s,
            max_send_queue_hard 64 MiB (then dropped, 1008; see DELIVERY GUARANTEES) |
            ping_interval 30 s (idle -> ping, another interval silent -> drop) |
            close_timeout 3 s | GP_HTTP_MAX_HEADERS 48 header lines (431) | origins: any |
            every timeout and the ping interval are cut to 2^30 ms (12 days)
   group    max_groups_per_conn 1024 | max_name 128 B
   app      max_group_id 128 B | max_message 65536 B | 64 JSON tokens, 32 levels | max_uid
            128 B | max_token 4096 B | token_grace 30 s | token_skew 0 s | info_window
            100 ms | max_info_queries 1024 under way
   chansrv  max_clients 10000 | max_bulk 64 MiB | max_args 65536 | max_output 32 MiB per |
            history_size 100 messages per group | history_ttl 600 s | max_recover =
            history_size | v2 id and epoch 64 B
   chansrv  store: depth 100 messages per group, max_bytes 64 MiB, max_groups 65536 (one
            mmap, pages touched as used; 1.1 KiB a group at depth 100) | channel names of a
            stream up to 240 B | max_clients 10000 | max_bulk 64 MiB | max_args 65536 | max_output 32 MiB per
            subscriber (then dropped, as Redis's pubsub output limit) | inline 64 KiB |
            grace_ms 2000, grace_max_bytes 64 MiB | max_queued 64 MiB of commands in one
            MULTI (then the command is refused and EXEC answers EXECABORT)
   chancli  heartbeat 1 s (dead after 3 silent) | backoff_max 1 s | max_backlog 10000
            publishes / 64 MiB | max_bulk 64 MiB | log_interval 10 s (outage summaries)
   sup      workers 8 | stop_timeout 4 s | ready_timeout (reload) 10 s

   VERSION HISTORY
   ===============
   0.3.0  (unreleased) delivery: protocol v2 (subprotocol grouppush.v2: offsets, epochs,
          command ids and replies, add_group since: recovery without gap or duplicate);
          group streams on the channel (GP_CHAN_SCRIPT_PUBLISH/_HISTORY: Lua on Redis, run
          natively by the built-in server on a gp_chansrv_store that outlives it); EVAL,
          EVALSHA, SCRIPT; gp_chancli_call, gp_chancli_load_script; gp_group_each_member, _word,
          _user; slow readers kept (ws max_send_queue soft + slow_timeout_ms, and
          max_send_queue_hard). Operations: gp_sup_config.on_master (the master's own loop: START,
          STOP, EXIT), on_reopen (SIGUSR1), extra_bytes + gp_sup_slot (shared per-process
          figures), gp_sup_stats bytes/slow_drops/reconnects and /status uptime_ms;
          gp_app_config.on_error / on_fanout, gp_app_stats joins/leaves/publishes;
          gp_chancli_config.on_published (PUBLISH replies, in order); gp_buf_printf.
          Authorization: hooks for embedders (on_connect, on_join, on_publish,
          on_send_to_uid, on_release), JWT HS256 tokens for the ready server
          (--token-secret, query or auth command, expiry and refresh, key rotation), users
          (send_to_uid, "user:U"), send_to_group exclude_self, group_info member counts
          over the deployment; SHA-256, HMAC-SHA256, >>jwt, gp_http_query_get,
          gp_conn_peer, gp_group_send_except, gp_group_each.
   0.2.0  (2026-12-02) the channel server answers what common Redis clients send by
          default: MULTI/EXEC/DISCARD/WATCH/UNWATCH, SELECT 0, RESET, INFO, COMMAND, CONFIG
          GET, CLIENT LIST|INFO|SETINFO|REPLY|HELP, PUBSUB HELP; HELLO SETNAME sets the name.
          Inside: one stream type (>>stream) under ws connections, channel-server clients
          and gp_chancli; the channel server encodes a publish once for all its subscribers;
          held publishes are kept once; commands are a table; gp_http_parse_head.
          First day: one deployment per --ws address (a second master exits 1 before
          forking); fail fast (a child that exits before ready stops the deployment; the
          ready server checks its channel address and its Redis credentials first); channel
          outages logged once, then summarised per log_interval_ms; workers stop before the
          channel server; gp_ws_config.protocols (subprotocols); gp_app_check_channel.
          Footprint: the header formats with its own gp_fmt (no stdio printf, scanf,
          inet_ntop or assert linked), listening addresses are literals or localhost (no
          resolver unless a program connects by name), GP_NO_RESOLVER; gp_print and
          gp_parse_uint for programs that want neither stdio nor strtoul.
   0.1.1  (2026-12-01) fixes: non-minimal frame lengths are 1002 (RFC 6455 5.2); RESP
          INT64_MIN and Redis's inline quoting; joining from a reused slot no longer uses a
          freed group; TCP is half-closed as soon as our close is answered; a SUBSCRIBE made
          while HELLO is outstanding is sent; ps titles no longer overwrite argv[1..] (the
          channel server lost --password); the channel server's failover grace replay goes
          once, in publish order, to a connection's opening re-subscription only (gp_chancli
          ends it with a PING); out-of-memory paths: a held publish freed with its block size,
          no leaked channel or fd, gp_group_send safe when on_close cannot be deferred.
          Smaller connection (104 B) and fd entry (24 B).
   0.1.0  (2026-11-25) first release: ws server (optional TLS), groups, channel server and
          client, supervisor, app protocol; poll and epoll backends.
*/
#if defined(GROUPPUSH_IMPLEMENTATION) && !defined(GP__IMPLEMENTATION_DONE) && \
    !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && \
    !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE)
/* The implementation needs POSIX + Linux declarations. Effective only when no libc header
   came before this one; otherwise define _GNU_SOURCE (or _POSIX_C_SOURCE 200809L) first. */
#  define _GNU_SOURCE 1
#endif
#ifndef GROUPPUSH_H
#define GROUPPUSH_H
#include <stddef.h>
#include <stdint.h>

#define GP_VERSION_MAJOR 0
#define GP_VERSION_MINOR 2
#define GP_VERSION_PATCH 0
#define GP_VERSION_STRING "0.2.0"

#ifndef GP_API
#  if defined(GP_STATIC) && (defined(__GNUC__) || defined(__clang__))
#    define GP_API static __attribute__((unused))
#  elif defined(GP_STATIC)
#    define GP_API static
#  else
#    define GP_API extern
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ==== common types ======================================================== */

#define GP__RESULTS(X)                                                   \
    X(GP_OK,            0, "ok")                                         \
    X(GP_ERR_NOMEM,    -1, "out of memory")                              \
    X(GP_ERR_INVAL,    -2, "invalid argument")                           \
    X(GP_ERR_IO,       -3, "system call failed, see errno")              \
    X(GP_ERR_PROTOCOL, -4, "peer broke the protocol")                    \
    X(GP_ERR_TOO_BIG,  -5, "over a configured limit")                    \
    X(GP_ERR_FULL,     -6, "queue or table full")                        \
    X(GP_ERR_CLOSED,   -7, "connection closed or id stale")              \
    X(GP_ERR_AGAIN,    -8, "try again later")                            \
    X(GP_ERR_NOTFOUND, -9, "no such item")
typedef enum gp_result {
#define GP__X(name, value, text) name = value,
    GP__RESULTS(GP__X)
#undef GP__X
    GP__RESULT_END_ = -100
} gp_result;
/* Human text for a gp_result ("unknown result" for anything else). Never NULL. */
GP_API const char *gp_result_string(int result);

/* A borrowed byte range: valid only as long as its documentation says. */
typedef struct gp_bytes { const uint8_t *ptr; size_t len; } gp_bytes;

/* A connection handle: slot index in the low 20 bits, generation above; 0 is never valid. */
typedef struct gp_conn_id { uint32_t v; } gp_conn_id;

enum { GP_LOG_ERROR = 1, GP_LOG_WARN = 2, GP_LOG_INFO = 3, GP_LOG_DEBUG = 4 };
/* Logging hook: component is "loop", "ws", "chansrv", ...; msg has no newline. */
typedef void (*gp_log_fn)(void *user, int level, const char *component, const char *msg);
/* Ready-made hook: writes "[component] msg" lines to stderr. user is ignored. */
GP_API void gp_log_stderr(void *user, int level, const char *component, const char *msg);

/* Growable byte buffer (caller-zeroed; alloc_ctx goes to GP_MALLOC & co). */
typedef struct gp_buf { uint8_t *data; size_t len, cap; void *alloc_ctx; } gp_buf;
GP_API int  gp_buf_reserve(gp_buf *b, size_t extra);          /* room for len+extra */
GP_API int  gp_buf_append(gp_buf *b, const void *p, size_t n); /* GP_OK / GP_ERR_NOMEM */
GP_API void gp_buf_consume(gp_buf *b, size_t n);               /* drop n bytes in front */
GP_API void gp_buf_free(gp_buf *b);
/* Append gp_fmt output (its conversions: no floating point). GP_OK / GP_ERR_NOMEM. */
GP_API int  gp_buf_printf(gp_buf *b, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ==== >>util  pure helpers ================================================ */

/* SHA-1 (RFC 3174) of data into out[20]. */
GP_API void gp_sha1(const void *data, size_t len, uint8_t out[20]);
/* SHA-256 (FIPS 180-4) of data into out[32]. */
GP_API void gp_sha256(const void *data, size_t len, uint8_t out[32]);
/* HMAC-SHA256 (RFC 2104, RFC 4231) of data under key (any length) into out[32]. */
GP_API void gp_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32]);
/* 1 if a[0..n) equals b[0..n); the time taken depends on n only (for MACs). */
GP_API int  gp_ct_equal(const void *a, const void *b, size_t n);
/* Base64 (RFC 4648, with padding). Encode writes 4*ceil(n/3) chars plus NUL, returns the
   length without NUL, or 0 if cap is too small. Decode returns bytes written or -1 on bad
   input or small cap. */
GP_API size_t gp_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);
GP_API long   gp_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* Incremental UTF-8 validator (a DFA over bytes). Start with *state = GP_UTF8_ACCEPT; feed
   chunks; GP_UTF8_REJECT is sticky. A message is valid iff the final state is ACCEPT.
   Returns the new state. Rejects overlongs, surrogates, > U+10FFFF as soon as the first
   impossible byte arrives. */
enum { GP_UTF8_ACCEPT = 0, GP_UTF8_REJECT = 12 };
GP_API uint32_t gp_utf8_feed(uint32_t state, const uint8_t *p, size_t n);

/* Monotonic clock in milliseconds. */
GP_API uint64_t gp_time_ms(void);

/* A decimal number of digits only (no sign, no space), at most max: GP_OK with *out set,
   or GP_ERR_INVAL (empty, another character, over max). For option values and ports. */
GP_API int gp_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* printf-style formatting without stdio (the formatter behind every message the header
   writes, so a program that does not call printf itself never links it): %s %.*s %c %%,
   %d %i %u %x with the size l, ll or (u, x only) z, a width with the flag '-' or '0'. No
   floating point, no locale; any other conversion is copied as text. gp_fmt has
   snprintf's contract: at most cap bytes with the NUL, returns the whole length.
   gp_print writes the result to fd with one write(2) (a line is never interleaved with
   another process's line); GP_OK, GP_ERR_NOMEM or GP_ERR_IO. */
GP_API size_t gp_fmt(char *out, size_t cap, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
GP_API int gp_print(int fd, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ==== >>loop  readiness event loop ======================================== */

typedef struct gp_loop gp_loop;
enum { GP_LOOP_READ = 1, GP_LOOP_WRITE = 2, GP_LOOP_ERROR = 4 };
typedef void (*gp_loop_io_fn)(gp_loop *loop, int fd, int events, void *user);
typedef void (*gp_loop_fn)(gp_loop *loop, void *user);

typedef struct gp_loop_config {
    void     *alloc_ctx;   /* passed to GP_MALLOC/GP_REALLOC/GP_FREE */
    gp_log_fn log_fn;      /* NULL: silent */
    void     *log_user;
    int       log_level;   /* 0 = GP_LOG_INFO */
} gp_loop_config;

/* Create a loop (poll backend, or epoll with GP_USE_EPOLL on Linux). cfg may be NULL. */
GP_API int  gp_loop_create(const gp_loop_config *cfg, gp_loop **out);
/* Destroy; fds are not closed (their owners close them). */
GP_API void gp_loop_destroy(gp_loop *loop);
/* Watch fd for events (GP_LOOP_READ|GP_LOOP_WRITE); a second call changes events and
   callback. fn is called with the fired events (ERROR means hangup or error). */
GP_API int  gp_loop_watch(gp_loop *loop, int fd, int events, gp_loop_io_fn fn, void *user);
/* Change only the event mask of a watched fd. */
GP_API int  gp_loop_set_events(gp_loop *loop, int fd, int events);
/* Stop watching fd (safe inside any callback; a pending event for it is dropped). */
GP_API int  gp_loop_unwatch(gp_loop *loop, int fd);
/* Start a timer: first after delay_ms, then every repeat_ms (0 = one-shot). Returns an id
   (never 0), or 0 when out of memory. */
GP_API uint64_t gp_loop_timer_start(gp_loop *loop, uint64_t delay_ms, uint64_t repeat_ms,
                                    gp_loop_fn fn, void *user);
/* Cancel a timer (a stale or 0 id is ignored). Returns GP_OK or GP_ERR_NOTFOUND. */
GP_API int  gp_loop_timer_stop(gp_loop *loop, uint64_t id);
/* Register fn to run after every batch of events and timers, before the loop sleeps
   again (the write-cork flush point). */
GP_API int  gp_loop_hook_add(gp_loop *loop, gp_loop_fn fn, void *user);
GP_API void gp_loop_hook_remove(gp_loop *loop, gp_loop_fn fn, void *user);
/* One iteration: wait up to timeout_ms (-1 = until the next timer or event), dispatch
   events, timers and hooks. Returns the number of fd events dispatched or GP_ERR_IO. */
GP_API int  gp_loop_run_once(gp_loop *loop, int timeout_ms);
/* Run until gp_loop_stop(). Returns GP_OK or GP_ERR_IO. */
GP_API int  gp_loop_run(gp_loop *loop);
GP_API void gp_loop_stop(gp_loop *loop);
/* The loop's cached monotonic time in ms (updated each iteration). */
GP_API uint64_t gp_loop_now(const gp_loop *loop);
/* "poll" or "epoll". */
GP_API const char *gp_loop_backend(const gp_loop *loop);
/* The allocator context and log settings given at create. */
GP_API void *gp_loop_alloc_ctx(const gp_loop *loop);
/* Log through the loop's hook; fmt takes gp_fmt's conversions (>>util). */
GP_API void  gp_loop_log(gp_loop *loop, int level, const char *component, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ==== >>net  sockets ====================================================== */

enum { GP_NET_REUSEPORT = 1, GP_NET_V6ONLY = 2 };
/* Listening socket, non-blocking and close-on-exec, SO_REUSEADDR always, SO_REUSEPORT with
   GP_NET_REUSEPORT. host: an IPv4 or IPv6 literal or "localhost" (127.0.0.1), NULL or "" =
   0.0.0.0; a name is GP_ERR_IO with errno EINVAL (no resolver: a program that only
   listens links none). port 0 = ephemeral. backlog <= 0 = 1024. */
GP_API int gp_net_listen(const char *host, int port, int backlog, int flags, int *fd_out);
/* Non-blocking connect (TCP_NODELAY set); completes when the fd turns writable (check with
   gp_net_connect_result). host: a literal, "localhost", NULL or "" (127.0.0.1), or a name
   (getaddrinfo, each address in turn; with GP_NO_RESOLVER a name is GP_ERR_IO, EINVAL). */
GP_API int gp_net_connect(const char *host, int port, int *fd_out);
GP_API int gp_net_connect_result(int fd);       /* GP_OK or GP_ERR_IO with errno set */
GP_API int gp_net_local_port(int fd);           /* bound port or -1 */
/* Split "host:port", "[v6]:port" or ":port" (host = "") into host (cap bytes) and port. */
GP_API int gp_net_split_hostport(const char *s, char *host, size_t cap, int *port);

/* ==== >>http  upgrade request parser (pure) =============================== */

#define GP_HTTP_MAX_HEADERS 48
typedef struct gp_http_header { gp_bytes name, value; } gp_http_header;
typedef struct gp_http_request {
    gp_bytes method, path;
    int      minor_version;                  /* HTTP/1.x */
    size_t   num_headers;
    gp_http_header headers[GP_HTTP_MAX_HEADERS];
} gp_http_request;
/* Parse a request head. Returns the head length (> 0) when complete, 0 if more input is
   needed, GP_ERR_PROTOCOL if malformed, GP_ERR_TOO_BIG if over GP_HTTP_MAX_HEADERS headers.
   Fields point into buf. Values are trimmed. */
GP_API int gp_http_parse_request(const uint8_t *buf, size_t len, gp_http_request *req);
/* The same for a head that arrives in pieces: buf holds everything received so far, of which
   the first last_len bytes were already seen by an earlier call that returned 0; only the
   new bytes are searched for the end of the head, so n calls cost O(len), not O(len^2). */
GP_API int gp_http_parse_head(const uint8_t *buf, size_t len, size_t last_len, gp_http_request *req);
/* Header value by case-insensitive name (the first one), or NULL. */
GP_API const gp_bytes *gp_http_header_get(const gp_http_request *req, const char *name);
/* 1 if a comma-separated value list holds token (case-insensitive). */
GP_API int gp_http_has_token(gp_bytes value, const char *token);
/* The value of parameter name in a query string ("a=1&token=x", without the '?'),
   percent-decoded ('+' stays '+') into out. Returns its length, -1 if absent (or a bad %
   escape), GP_ERR_TOO_BIG if over cap. */
GP_API long gp_http_query_get(gp_bytes query, const char *name, uint8_t *out, size_t cap);
/* Sec-WebSocket-Accept for a key (RFC 6455 4.2.2): writes 28 chars + NUL into out. */
GP_API void gp_ws_accept_key(const uint8_t *key, size_t len, char out[29]);

/* ==== >>wscodec  RFC 6455 framing (pure) ================================== */

enum { GP_WS_CONT = 0x0, GP_WS_TEXT = 0x1, GP_WS_BINARY = 0x2, GP_WS_CLOSE = 0x8,
       GP_WS_PING = 0x9, GP_WS_PONG = 0xA };
typedef struct gp_ws_frame {
    int      fin, rsv, opcode, masked;
    uint8_t  mask[4];
    uint64_t payload_len;
    size_t   header_len;
} gp_ws_frame;
/* Parse a frame header. Returns its length (2..14), 0 if more bytes are needed, or
   GP_ERR_PROTOCOL (64-bit length with the top bit set, or a non-minimal length). */
GP_API int gp_ws_parse_header(const uint8_t *buf, size_t len, gp_ws_frame *f);
/* RFC 6455 5.2-5.5 checks for a frame a server receives: returns 0 or the close code (1002).
   in_message: a fragmented data message is open. */
GP_API int gp_ws_check_frame(const gp_ws_frame *f, int in_message);
/* Encode a header into out (>= 14 bytes). mask NULL = unmasked. Returns its length. */
GP_API size_t gp_ws_encode_header(uint8_t *out, int fin, int opcode, uint64_t len,
                                  const uint8_t *mask);
/* XOR data with mask, starting at byte `offset` of the payload. */
GP_API void gp_ws_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);
/* 1 if a close code may appear on the wire (RFC 6455 7.4.1, 7.4.2). */
GP_API int gp_ws_close_code_valid(int code);

/* ==== >>ws  WebSocket server ============================================== */

typedef struct gp_ws_server gp_ws_server;
/* A refcounted, encoded message (frame bytes), shareable by many connections. */
typedef struct gp_msg gp_msg;

typedef struct gp_http_response {
    int         status;        /* e.g. 200; 0 = let the server answer 404 */
    const char *content_type;  /* NULL = text/plain */
    const void *body;          /* copied after the callback returns */
    size_t      body_len;
    const char *headers;       /* extra header lines, each ending "\r\n", or NULL */
} gp_http_response;

typedef struct gp_ws_accept {
    const char *protocol;      /* subprotocol to select: comes in as the server's choice
                                  from gp_ws_config.protocols (or NULL); on_accept may
                                  change it. Sent only if the client offered it. */
    void       *conn_user;     /* initial per-connection user pointer */
} gp_ws_accept;

typedef struct gp_ws_stats {
    size_t   connections, handshaking, closing;
    uint64_t accepted, refused, msgs_in, msgs_out, bytes_in, bytes_out, slow_closed;
} gp_ws_stats;

typedef struct gp_ws_config {
    size_t   max_conns;            /* 0 = default; more get 503 */
    size_t   max_handshake;        /* request head bytes (0 = default); more get 431 */
    uint64_t handshake_timeout_ms; /* 0 = default; then 408 (timeouts are cut to 2^30 ms) */
    uint64_t max_message;          /* reassembled message bytes (0 = default); more: 1009 */
    size_t   max_send_queue;       /* soft limit of queued bytes per connection (0 = default):
                                      past it the connection must keep draining, see below */
    size_t   max_send_queue_hard;  /* hard limit (0 = default, at least max_send_queue):
                                      past it the connection is dropped at once (1008) */
    uint64_t slow_timeout_ms;      /* 0 = default: a connection over max_send_queue that has
                                      written nothing for this long is dropped (1008) */
    uint64_t ping_interval_ms;     /* 0 = default; idle connections are pinged, dropped after
                                      another interval of silence; GP_WS_NO_PING disables */
    uint64_t close_timeout_ms;     /* 0 = default: wait for the peer's close / FIN */
    const char *origins;           /* comma-separated Origin allowlist; NULL = any */
    const char *protocols;         /* comma-separated subprotocols this server speaks, most
                                      preferred first (RFC 6455 tokens, else gp_ws_create
                                      gives GP_ERR_INVAL); NULL = none. The first one the
                                      client offers is selected; none offered: no
                                      Sec-WebSocket-Protocol (see the manual) */
    const char *tls_cert;          /* PEM certificate chain file: serve wss:// (needs
                                      GP_USE_MBEDTLS, else gp_ws_create gives GP_ERR_INVAL) */
    const char *tls_key;           /* PEM private key file for tls_cert */
    /* Upgrade request: return 0 to accept (may fill *acc), or an HTTP status (e.g. 403). */
    int  (*on_accept)(gp_ws_server *srv, gp_conn_id id, const gp_http_request *req,
                      gp_ws_accept *acc, void *user);
    /* Non-upgrade request: fill *res. NULL or status 0: 426 Upgrade Required. */
    void (*on_http)(gp_ws_server *srv, const gp_http_request *req, gp_http_response *res,
                    void *user);
    void (*on_open)(gp_ws_server *srv, gp_conn_id id, void *user);
    /* A complete message (text is valid UTF-8). data is borrowed until return. */
    void (*on_message)(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user);
    /* Fires once per opened connection, last, at the end of the event batch in which it closed
       (so never while the library iterates connections). code: the peer's close code, or ours,
       1006 when the TCP connection dropped without a close, 1008 for a slow reader. */
    void (*on_close)(gp_ws_server *srv, gp_conn_id id, int code, gp_bytes reason, void *user);
    void *user;
} gp_ws_config;
#define GP_WS_NO_PING ((uint64_t)-1)

/* Create a server on loop. cfg is copied. */
GP_API int  gp_ws_create(gp_loop *loop, const gp_ws_config *cfg, gp_ws_server **out);
/* Close every connection at once (no callbacks) and free the server. */
GP_API void gp_ws_destroy(gp_ws_server *srv);
/* Listen on host:port (flags as gp_net_listen). May be called several times. */
GP_API int  gp_ws_listen(gp_ws_server *srv, const char *host, int port, int flags);
/* Adopt a listening fd (made non-blocking; closed by the server). */
GP_API int  gp_ws_listen_fd(gp_ws_server *srv, int fd);
/* Port of the first listener, or -1. */
GP_API int  gp_ws_port(const gp_ws_server *srv);
/* Graceful stop: stop accepting (listeners closed), send close `code` (0 = 1001) to every
   open connection; a handshake under way completes and then gets the same close.
   Connections finish closing on the loop; gp_ws_stats shows when none are left. */
GP_API void gp_ws_shutdown(gp_ws_server *srv, int code, const char *reason);
GP_API void gp_ws_stats_get(const gp_ws_server *srv, gp_ws_stats *st);
GP_API gp_loop *gp_ws_loop(const gp_ws_server *srv);

/* Encode a data or control frame once (FIN set). Returns NULL on NOMEM or a control payload
   over 125 bytes. The caller holds one reference. */
GP_API gp_msg *gp_msg_new(gp_ws_server *srv, int opcode, const void *data, size_t len);
GP_API gp_msg *gp_msg_ref(gp_msg *m);
GP_API void    gp_msg_unref(gp_msg *m);
/* Encoded size in bytes (header + payload). */
GP_API size_t  gp_msg_size(const gp_msg *m);

/* Queue one frame on a connection (copied). Writes are corked: flushed with one writev per
   connection after the current batch of events. GP_ERR_CLOSED for a stale or closing id. */
GP_API int  gp_ws_send(gp_ws_server *srv, gp_conn_id id, int opcode, const void *data, size_t len);
/* Queue a reference to m (no copy). */
GP_API int  gp_ws_send_msg(gp_ws_server *srv, gp_conn_id id, gp_msg *m);
/* Start the close handshake (code 0 = 1000). Safe in any callback; on_close follows. */
GP_API int  gp_conn_close(gp_ws_server *srv, gp_conn_id id, int code, const char *reason);
GP_API int  gp_conn_is_open(const gp_ws_server *srv, gp_conn_id id);
GP_API int  gp_conn_set_user(gp_ws_server *srv, gp_conn_id id, void *user);
GP_API void *gp_conn_get_user(const gp_ws_server *srv, gp_conn_id id);
/* Bytes queued and not yet written, or 0 for a stale id. */
GP_API size_t gp_conn_queued(const gp_ws_server *srv, gp_conn_id id);
/* The client's address as "IP:PORT" (IPv6 without brackets) into out; GP_ERR_CLOSED for a
   stale id. Usable from on_accept on. */
GP_API int  gp_conn_peer(const gp_ws_server *srv, gp_conn_id id, char *out, size_t cap);
/* Slot index of an id (< 2^20): a dense key for per-connection tables. */
GP_API uint32_t gp_conn_slot(gp_conn_id id);

/* ==== >>group  group registry ============================================= */

typedef struct gp_groups gp_groups;
typedef struct gp_group_config {
    size_t max_groups_per_conn;    /* 0 = default */
    size_t max_name;               /* bytes of a group name, 0 = default */
    /* A group got its first local member / lost its last one (interest routing). */
    void (*on_first)(gp_groups *g, const char *name, size_t len, void *user);
    void (*on_empty)(gp_groups *g, const char *name, size_t len, void *user);
    void *user;
} gp_group_config;
GP_API int  gp_group_create(gp_ws_server *srv, const gp_group_config *cfg, gp_groups **out);
GP_API void gp_group_destroy(gp_groups *g);
/* Join (idempotent). GP_ERR_TOO_BIG name over max, GP_ERR_FULL over max groups per
   connection, GP_ERR_INVAL empty name, GP_ERR_CLOSED stale id. O(1) expected. */
GP_API int  gp_group_join(gp_groups *g, gp_conn_id id, const void *name, size_t len);
/* Leave. GP_ERR_NOTFOUND if not a member. */
GP_API int  gp_group_leave(gp_groups *g, gp_conn_id id, const void *name, size_t len);
/* Leave every group (call from on_close). */
GP_API void gp_group_leave_all(gp_groups *g, gp_conn_id id);
/* Queue m on every member. Returns the number of members it was queued on. */
GP_API size_t gp_group_send(gp_groups *g, const void *name, size_t len, gp_msg *m);
/* The same, but not on member `except` (a stale or 0 id excludes no one). */
GP_API size_t gp_group_send_except(gp_groups *g, const void *name, size_t len, gp_msg *m, gp_conn_id except);
/* Call fn for each group id is in (fn may make id leave that group). Returns the count. */
GP_API size_t gp_group_each(gp_groups *g, gp_conn_id id,
                            void (*fn)(gp_groups *g, gp_conn_id id, const char *name, size_t len, void *user),
                            void *user);
/* Call fn for every member (in an order that is safe against members leaving meanwhile,
   as gp_group_send) with the membership's own 64-bit word, the caller's to keep state in
   (0 at join). Returns the members visited. */
typedef void (*gp_group_member_fn)(gp_groups *g, gp_conn_id id, uint64_t *word, void *user);
GP_API size_t gp_group_each_member(gp_groups *g, const void *name, size_t len, gp_group_member_fn fn, void *user);
/* The word of id's membership in a group, NULL if not a member. Valid until it leaves. */
GP_API uint64_t *gp_group_word(gp_groups *g, gp_conn_id id, const void *name, size_t len);
/* The group's user pointer (NULL at creation; free what it holds in on_empty, where it is
   still found), or NULL when no such group. */
GP_API void **gp_group_user(gp_groups *g, const void *name, size_t len);
GP_API size_t gp_group_size(const gp_groups *g, const void *name, size_t len);
GP_API void gp_group_counts(const gp_groups *g, size_t *groups, size_t *memberships);

/* ==== >>chan  RESP2/RESP3 codec (pure) ==================================== */

/* Value types: the RESP type byte itself. */
enum { GP_CHAN_SIMPLE = '+', GP_CHAN_ERROR = '-', GP_CHAN_INT = ':', GP_CHAN_BULK = '$',
       GP_CHAN_ARRAY = '*', GP_CHAN_NULL = '_', GP_CHAN_BOOL = '#', GP_CHAN_DOUBLE = ',',
       GP_CHAN_BIGNUM = '(', GP_CHAN_BLOBERR = '!', GP_CHAN_VERBATIM = '=', GP_CHAN_MAP = '%',
       GP_CHAN_SET = '~', GP_CHAN_ATTR = '|', GP_CHAN_PUSH = '>' };
typedef struct gp_chan_value {
    int      type;     /* GP_CHAN_*; a RESP2 null bulk/array is GP_CHAN_NULL */
    int64_t  integer;  /* INT, BOOL; the count for aggregates */
    gp_bytes str;      /* SIMPLE, ERROR, BULK, DOUBLE, BIGNUM, BLOBERR, VERBATIM */
    size_t   children; /* direct children of an aggregate (a map: 2 per entry) */
} gp_chan_value;
/* Parse one complete value (a reply or push) into vals (preorder). Returns bytes consumed,
   0 if incomplete, GP_ERR_PROTOCOL, or GP_ERR_TOO_BIG (bulk over max_bulk or more than
   max_vals values). */
GP_API long gp_chan_parse(const uint8_t *buf, size_t len, gp_chan_value *vals, size_t max_vals,
                          size_t *nvals, uint64_t max_bulk);
/* Parse one request: a multibulk array of bulk strings, or an inline line (words split on
   spaces, "double" and 'single' quotes as Redis does; escapes are decoded in place, so
   buf is written). args point into buf. Returns bytes
   consumed (an empty line consumes and gives *argc 0), 0 incomplete, GP_ERR_PROTOCOL,
   GP_ERR_TOO_BIG (more than max_args, bulk over max_bulk, inline line over max_inline). */
GP_API long gp_chan_parse_request(uint8_t *buf, size_t len, gp_bytes *args, size_t max_args,
                                  size_t *argc, uint64_t max_bulk, size_t max_inline);
/* Encoders: append to b. */
GP_API int gp_chan_put_command(gp_buf *b, size_t argc, const gp_bytes *args);
GP_API int gp_chan_put_agg(gp_buf *b, int type, size_t n);          /* '*', '%', '>', ... */
GP_API int gp_chan_put_bulk(gp_buf *b, const void *s, size_t n);
GP_API int gp_chan_put_simple(gp_buf *b, int type, const char *s); /* '+' or '-' */
GP_API int gp_chan_put_int(gp_buf *b, int64_t v);
GP_API int gp_chan_put_null(gp_buf *b, int resp3);                 /* "_" or "$-1" */

/* Group streams (offsets, epochs, history; DELIVERY GUARANTEES). Both scripts take
   KEYS[1] = "gp:{" channel "}:m" (the group's offset and epoch) and KEYS[2] =
   "gp:{" channel "}:h" (its history, a capped stream). A real Redis (>= 6) runs them as Lua;
   the built-in channel server recognises exactly these texts (EVAL, EVALSHA, SCRIPT LOAD)
   and runs its own code with the same replies.
   PUBLISH: ARGV = channel, payload, history size (0 = none kept), history ttl s (0 =
   none), epoch candidate (used when the group has none yet), meta ttl s (0 = none). It
   takes the next offset, keeps the payload, publishes
   "\xFFgp1 <offset> <epoch> <payload>" on the channel, and replies [offset, epoch]. */
#define GP_CHAN_SCRIPT_PUBLISH \
    "if #KEYS~=2 or #ARGV~=6 or not (tonumber(ARGV[3]) and tonumber(ARGV[4]) and tonumber(ARGV[6])) then\n" \
    "  return redis.error_reply('ERR grouppush PUBLISH script: 2 keys; channel, payload, size, ttl, epoch, meta ttl')\n" \
    "end\n" \
    "if redis.call('hsetnx',KEYS[1],'e',ARGV[5])==1 then redis.call('del',KEYS[2]) end\n" \
    "local o=redis.call('hincrby',KEYS[1],'o',1)\n" \
    "local e=redis.call('hget',KEYS[1],'e')\n" \
    "if tonumber(ARGV[3])>0 then\n" \
    "  redis.call('xadd',KEYS[2],'MAXLEN',ARGV[3],'0-'..o,'d',ARGV[2])\n" \
    "  if tonumber(ARGV[4])>0 then redis.call('expire',KEYS[2],ARGV[4]) end\n" \
    "end\n" \
    "if tonumber(ARGV[6])>0 then redis.call('expire',KEYS[1],ARGV[6]) end\n" \
    "redis.call('publish',ARGV[1],'\\255gp1 '..o..' '..e..' '..ARGV[2])\n" \
    "return {o,e}\n"
/* HISTORY: ARGV = since (-1: only the position), at most this many messages, epoch
   candidate, meta ttl s. Replies [epoch, top offset] and, when messages after `since` are
   kept, the offset of the first one and then the payloads, in order (consecutive offsets). */
#define GP_CHAN_SCRIPT_HISTORY \
    "if #KEYS~=2 or #ARGV~=4 or not (tonumber(ARGV[1]) and tonumber(ARGV[2]) and tonumber(ARGV[4])) then\n" \
    "  return redis.error_reply('ERR grouppush HISTORY script: 2 keys; since, count, epoch, meta ttl')\n" \
    "end\n" \
    "if redis.call('hsetnx',KEYS[1],'e',ARGV[3])==1 then redis.call('del',KEYS[2]) end\n" \
    "if tonumber(ARGV[4])>0 then redis.call('expire',KEYS[1],ARGV[4]) end\n" \
    "local m=redis.call('hmget',KEYS[1],'o','e')\n" \
    "local top=tonumber(m[1]) or 0\n" \
    "local r={m[2],top}\n" \
    "local k=tonumber(ARGV[1])\n" \
    "if k>=0 and k<top and tonumber(ARGV[2])>0 then\n" \
    "  local xs=redis.call('xrange',KEYS[2],'0-'..(k+1),'+','COUNT',ARGV[2])\n" \
    "  if #xs>0 then\n" \
    "    r[3]=tonumber(string.sub(xs[1][1],3))\n" \
    "    for i=1,#xs do r[#r+1]=xs[i][2][2] end\n" \
    "  end\n" \
    "end\n" \
    "return r\n"
/* SHA-1 of a script as 40 lower-case hex digits + NUL (what EVALSHA takes). */
GP_API void gp_chan_script_sha(const char *script, char out[41]);

/* ==== >>chansrv  Redis-compatible pub/sub server ========================== */

typedef struct gp_chansrv gp_chansrv;
typedef struct gp_chansrv_config {
    const char *password;       /* requirepass; NULL = none */
    size_t   max_clients;       /* 0 = default */
    uint64_t max_bulk;          /* bulk bytes, 0 = default (Redis: proto-max-bulk-len) */
    size_t   max_args;          /* arguments per command, 0 = default */
    size_t   max_output;        /* bytes queued per subscriber (0 = default), then it is dropped
                                   (Redis: client-output-buffer-limit pubsub) */
    uint64_t grace_ms;          /* 0 = default: after start, keep publishes for late subscribers;
                                   GP_CHANSRV_NO_GRACE disables */
    size_t   grace_max_bytes;   /* bytes kept at most during the grace period, 0 = default */
    size_t   max_queued;        /* bytes of commands one MULTI may queue, 0 = default */
    struct gp_chansrv_store *store;   /* group offsets and history; NULL: one of its own */
} gp_chansrv_config;
/* The built-in side of GP_CHAN_SCRIPT_PUBLISH / _HISTORY: per-group offsets, epochs and a
   bounded history, in one shared anonymous mapping (not GP_MALLOC). Made by a master before
   it forks, it outlives the channel server processes that use it: a channel server that is
   killed and restarted continues the same epochs and offsets, history included. One
   channel server at a time may use a store. */
typedef struct gp_chansrv_store gp_chansrv_store;
typedef struct gp_chansrv_store_config {
    size_t depth;        /* messages kept per group at most (0 = default); a publish keeps
                            min(its history-size argument, depth) */
    size_t max_bytes;    /* the messages of all groups together (0 = default); the oldest go */
    size_t max_groups;   /* groups with a stream (0 = default); then the least recently
                            published of 8 is forgotten (its next use starts a new epoch) */
} gp_chansrv_store_config;
GP_API int  gp_chansrv_store_create(const gp_chansrv_store_config *cfg, gp_chansrv_store **out);
GP_API void gp_chansrv_store_destroy(gp_chansrv_store *st);
#define GP_CHANSRV_NO_GRACE ((uint64_t)-1)
typedef struct gp_chansrv_stats {
    size_t   clients, channels, patterns;
    uint64_t published, delivered, dropped_clients, graced;
    uint64_t commands, bytes_in, bytes_out, rejected;   /* rejected: over max_clients */
} gp_chansrv_stats;
GP_API int  gp_chansrv_create(gp_loop *loop, const gp_chansrv_config *cfg, gp_chansrv **out);
GP_API int  gp_chansrv_listen(gp_chansrv *s, const char *host, int port);
GP_API int  gp_chansrv_port(const gp_chansrv *s);
/* Serve an already connected socket (tests use socketpair()). */
GP_API int  gp_chansrv_adopt(gp_chansrv *s, int fd);
GP_API void gp_chansrv_stats_get(const gp_chansrv *s, gp_chansrv_stats *st);
GP_API void gp_chansrv_destroy(gp_chansrv *s);
/* Redis glob match (*, ?, [a-z], [^x], \\x), as PSUBSCRIBE uses it. */
GP_API int  gp_chan_glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen);

/* ==== >>chancli  pub/sub client ============================================ */

typedef struct gp_chancli gp_chancli;
/* A message on channel (from a SUBSCRIBE) or matching pattern (PSUBSCRIBE). Borrowed. */
typedef void (*gp_chancli_msg_fn)(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user);
typedef struct gp_chancli_config {
    const char *host;            /* NULL = 127.0.0.1 */
    int         port;            /* 0 = default */
    const char *username;        /* NULL = "default" when a password is set */
    const char *password;        /* NULL = no AUTH */
    uint64_t heartbeat_ms;       /* 0 = default: PING when idle; dead after 3 silent beats */
    uint64_t backoff_max_ms;     /* 0 = default: reconnect delays 0, 25, 50 ... up to this */
    size_t   max_backlog;        /* publishes held while disconnected, 0 = default */
    size_t   max_backlog_bytes;  /* 0 = default */
    uint64_t max_bulk;           /* bulk bytes accepted from the server, 0 = default */
    uint64_t log_interval_ms;    /* an outage is logged once (at once when an up connection
                                    is lost, after 1 s when it never came up), then
                                    summarised at most this often (0 = default); error replies too */
    gp_chancli_msg_fn on_message;  /* default for subscriptions without their own */
    /* Connection state: 1 = subscribed and flushed after (re)connect, 0 = lost. */
    void (*on_state)(gp_chancli *c, int up, void *user);
    /* A publish was acknowledged, once per GP_OK gp_chancli_publish, in publish order:
       receivers is the server's reply (how many subscribers got it), -1 an error reply. */
    void (*on_published)(gp_chancli *c, int64_t receivers, void *user);
    void *user;
} gp_chancli_config;
typedef struct gp_chancli_stats {
    int      up;
    size_t   subscriptions, backlog;
    uint64_t published, received, reconnects, dropped;
} gp_chancli_stats;
/* Create and start connecting (never blocks). cfg is copied. */
GP_API int  gp_chancli_create(gp_loop *loop, const gp_chancli_config *cfg, gp_chancli **out);
GP_API void gp_chancli_destroy(gp_chancli *c);
/* Subscribe (the seed's Channel\Client::on): fn (NULL = cfg on_message) gets every message
   on channel. Kept across reconnects. Idempotent (replaces the callback). */
GP_API int  gp_chancli_subscribe(gp_chancli *c, const void *ch, size_t len, gp_chancli_msg_fn fn,
                                 void *user);
GP_API int  gp_chancli_unsubscribe(gp_chancli *c, const void *ch, size_t len);
GP_API int  gp_chancli_psubscribe(gp_chancli *c, const void *pat, size_t len, gp_chancli_msg_fn fn,
                                  void *user);
GP_API int  gp_chancli_punsubscribe(gp_chancli *c, const void *pat, size_t len);
/* Publish. While disconnected it is held (in order) up to the backlog limits, then
   GP_ERR_FULL. Publishes the server has not acknowledged when the connection drops are
   sent again after the reconnect (a message can then arrive twice, see the manual). */
GP_API int  gp_chancli_publish(gp_chancli *c, const void *ch, size_t chlen, const void *data,
                               size_t len);
/* The reply to a gp_chancli_call: v[0..nv) the value in preorder (borrowed until return;
   an error reply is a GP_CHAN_ERROR value). Never called after gp_chancli_destroy. */
typedef void (*gp_chancli_reply_fn)(gp_chancli *c, const gp_chan_value *v, size_t nv, void *user);
/* Send any command (argv copied, encoded once) and get its reply in fn. Held, limited and
   sent again after a reconnect exactly like a publish (so a call the server ran but did not
   answer before the connection dropped runs twice), in order with the publishes. */
GP_API int  gp_chancli_call(gp_chancli *c, size_t argc, const gp_bytes *argv, gp_chancli_reply_fn fn, void *user);
/* Have the server know a script on every connection, this one and each reconnect (SCRIPT
   LOAD in the opening pipeline, before any held call), so EVALSHA never meets NOSCRIPT
   (a Redis restarted without persistence forgets its scripts). sha: its SHA-1, or NULL. */
GP_API int  gp_chancli_load_script(gp_chancli *c, const char *text, char sha[41]);
GP_API void gp_chancli_stats_get(const gp_chancli *c, gp_chancli_stats *st);
/* Parse "redis://[[user]:password@]host[:port]" or "host:port" into cfg (strings point into
   buf, which receives a copy of url). With GP_NO_RESOLVER a host that is not a literal or
   "localhost" is GP_ERR_INVAL. */
GP_API int  gp_chancli_parse_url(const char *url, char *buf, size_t cap, gp_chancli_config *cfg);

/* ==== >>sup  supervisor ==================================================== */

typedef struct gp_sup_child gp_sup_child;
enum { GP_SUP_MASTER = 0, GP_SUP_CHANNEL = 1, GP_SUP_WORKER = 2 };
/* Figures each process publishes for the status report (shared memory). */
typedef struct gp_sup_stats {
    int32_t  role, index, pid, restarts;
    uint64_t connections, groups, memberships, msgs_in, msgs_out, rss_kb, started_ms;
    uint64_t bytes_in, bytes_out, slow_drops, reconnects;   /* rss_kb: the master refreshes it */
} gp_sup_stats;
/* gp_sup_config.on_master phases */
enum { GP_SUP_PHASE_START = 0, GP_SUP_PHASE_STOP = 1, GP_SUP_PHASE_EXIT = 2 };
/* Entry point of a child: run its loop, return the exit code. */
typedef int (*gp_sup_main_fn)(gp_sup_child *child, void *user);
typedef struct gp_sup_config {
    int    argc;                 /* main's argc/argv: process titles in ps overwrite argv[0]
                                    (cut to its length), never the other arguments */
    char **argv;
    const char *name;            /* NULL = "grouppush" */
    int    workers;              /* 0 = default */
    gp_sup_main_fn worker_main;  /* required */
    gp_sup_main_fn channel_main; /* NULL = no channel server process */
    void  *user;
    /* With listen_port > 0 the master makes one SO_REUSEPORT listening socket per worker
       index before forking (gp_sup_listen_fd). They outlive workers: a respawned or reloaded
       worker takes over its predecessor's socket and accept queue, so replacing a worker
       neither refuses nor resets a connection. An address where anything already listens
       is refused: gp_sup_run returns 1 (one deployment per address, see the manual). */
    const char *listen_host;     /* NULL = 0.0.0.0 */
    int    listen_port;
    uint64_t stop_timeout_ms;    /* 0 = default, then SIGKILL */
    uint64_t ready_timeout_ms;   /* 0 = default during a reload */
    /* In the master, once, when every child has called gp_sup_ready. */
    void (*on_ready)(void *user);
    /* In the master (master = its own gp_sup_child, for gp_sup_slot): GP_SUP_PHASE_START
       once its loop exists and the listening sockets are made, before the first fork
       (watch more fds, start timers, bind, drop privileges); GP_SUP_PHASE_STOP when a stop
       begins (let go of what needs the children, e.g. a channel connection); GP_SUP_PHASE_EXIT
       after the last child is reaped, before the loop is destroyed. A forked child closes
       every fd the master's loop watches. Non-zero at START: gp_sup_run returns 1 without
       forking (say why first). NULL = none. */
    int  (*on_master)(gp_sup_child *master, gp_loop *loop, int phase, void *user);
    /* SIGUSR1 in the master (logrotate): reopen log files. Children ignore SIGUSR1. */
    void (*on_reopen)(void *user);
    size_t extra_bytes;          /* shared bytes per slot for the application's own figures
                                    (gp_sup_slot): zero at first, then kept across restarts of
                                    that slot (so counters can go on); 0 = none */
    gp_log_fn log_fn;
    void  *log_user;
} gp_sup_config;
/* Fork the children and supervise them until SIGINT/SIGTERM; installs handlers for SIGINT,
   SIGTERM, SIGHUP (rolling reload), SIGCHLD, SIGUSR2 (status to stdout) in the master.
   Returns the master's exit code: 0 after a stop, 1 when the address is taken or a child
   exited before the deployment was ready; in a child, calls the main fn and _exit()s with
   its code. GP_ERR_INVAL when built with GP_NO_SUPERVISOR. */
GP_API int  gp_sup_run(const gp_sup_config *cfg);
GP_API int  gp_sup_role(const gp_sup_child *ch);
/* In a worker: its listening socket (see listen_port), or -1. Non-blocking. */
GP_API int  gp_sup_listen_fd(const gp_sup_child *ch);
GP_API int  gp_sup_index(const gp_sup_child *ch);
/* Tell the master this child is serving (ready line; reload proceeds). */
GP_API void gp_sup_ready(gp_sup_child *ch);
/* In a child: route SIGTERM into loop as a call of on_stop (graceful stop). Children ignore
   SIGINT: the master turns a Ctrl-C into an ordered stop. */
GP_API int  gp_sup_watch(gp_sup_child *ch, gp_loop *loop, gp_loop_fn on_stop, void *user);
/* This child's shared status slot (fill the counters; pid/role/index are set). */
GP_API gp_sup_stats *gp_sup_my_stats(gp_sup_child *ch);
/* Render every process's status as JSON into b. */
GP_API int  gp_sup_status_json(gp_sup_child *ch, gp_buf *b);
/* Slot i of the shared status (0 master, 1 channel server, 2.. workers by index): NULL past
   the last; a slot with pid 0 is unused. *extra (if not NULL) gets its extra_bytes area, or
   NULL. i = -1: this process's own slot. Any process may read every slot; each writes its
   own (64-bit fields written whole, read without a lock). */
GP_API gp_sup_stats *gp_sup_slot(gp_sup_child *ch, int i, void **extra);
/* Set the process title shown by ps (argv[0], cut to its length) and the thread name. */
GP_API void gp_sup_set_title(gp_sup_child *ch, const char *title);

/* ==== >>json  minimal JSON reader and string writer (pure) ================== */

/* Minimal JSON reader (RFC 8259). Tokens in document order; an object's or array's
   `size` is its number of direct children (an object counts keys and values). Strings
   point inside the input, without quotes and still escaped. */
enum { GP_JSON_OBJECT = 1, GP_JSON_ARRAY, GP_JSON_STRING, GP_JSON_NUMBER, GP_JSON_TRUE,
       GP_JSON_FALSE, GP_JSON_NULL };
typedef struct gp_json_tok { int type; size_t start, end; size_t size; size_t next; } gp_json_tok;
/* Parse the whole text (surrounding whitespace allowed). Returns the number of tokens,
   GP_ERR_PROTOCOL for invalid JSON, GP_ERR_TOO_BIG if more than max tokens or nesting
   deeper than 32. `next` of each token is the index just past its subtree. */
GP_API int gp_json_parse(const uint8_t *text, size_t len, gp_json_tok *toks, size_t max);
/* Index of the value for `key` in the object at toks[obj], or -1. Keys compare unescaped. */
GP_API int gp_json_find(const uint8_t *text, const gp_json_tok *toks, int obj, const char *key);
/* Unescape string token into out (cap bytes) as UTF-8. Returns length, or
   GP_ERR_TOO_BIG (cap too small) / GP_ERR_PROTOCOL (lone surrogate escape). */
GP_API long gp_json_unescape(const uint8_t *text, const gp_json_tok *t, uint8_t *out, size_t cap);
/* Append s (n bytes of UTF-8) to b as a quoted JSON string. */
GP_API int gp_json_put_string(gp_buf *b, const void *s, size_t n);

/* ==== >>jwt  JSON Web Tokens (RFC 7519) signed with HS256 (pure) ============ */

/* Verification of a compact JWS (RFC 7515) token: header.payload.signature, base64url
   without padding. Only "alg":"HS256" (HMAC-SHA256) is accepted: "none", HS384/HS512, RS*,
   ES*, PS* and anything else are refused, as is a header with "crit". The signature is
   checked before the payload is parsed. Claims read: "sub" (string), "exp" and "nbf"
   (NumericDate: an integer, a fraction is cut off, at most 15 digits), and three lists of
   Redis glob patterns (gp_chan_glob_match): "groups" (groups it may join), "publish"
   (groups it may push to), "send_to_uid" (user ids it may send to); each an array of
   strings. Other claims (iss, aud, iat, jti, ...) are ignored. A claim of the wrong type,
   or a claim the token names twice, refuses the token. */
typedef struct gp_jwt_config {
    gp_bytes secret[2];    /* HMAC keys; a token signed with either is good (a key rotation
                              keeps both); a len of 0 = unused. At least secret[0]. */
    int64_t  skew;         /* seconds of clock difference allowed for exp and nbf (>= 0) */
} gp_jwt_config;
typedef struct gp_jwt {
    gp_bytes sub;          /* "sub", unescaped, in work; len 0: the token names no user */
    int64_t  exp, nbf;     /* seconds since 1970; INT64_MAX / INT64_MIN when absent */
    gp_bytes groups;       /* the pattern lists, in work, packed (gp_jwt_match): each */
    gp_bytes publish;      /*   pattern is a 2-byte big-endian length and its bytes; an */
    gp_bytes send_to_uid;  /*   absent claim is an empty list, which allows nothing */
    int      key;          /* which secret verified it: 0 or 1 */
    const char *error;     /* after a refusal: why, a short phrase (static text) */
} gp_jwt;
/* Bytes of work memory gp_jwt_verify needs for a token of n bytes (tokens + decoded text). */
#define GP_JWT_WORK_SIZE(n) (((n) / 2 + 2) * sizeof(gp_json_tok) + 2 * (size_t)(n) + 16)
/* Verify tok (len bytes) at time now (seconds since 1970). work: cap bytes of the caller's
   memory, at least GP_JWT_WORK_SIZE(len); out's byte ranges point into it. Returns GP_OK;
   GP_ERR_PROTOCOL when the token is refused (malformed, wrong alg, bad signature, expired,
   not yet valid, a claim of the wrong type: out->error says which); GP_ERR_TOO_BIG when cap
   is too small; GP_ERR_INVAL for a missing secret. */
GP_API int gp_jwt_verify(const gp_jwt_config *cfg, const uint8_t *tok, size_t len, int64_t now,
                         void *work, size_t cap, gp_jwt *out);
/* 1 if name (len bytes) matches one of the packed patterns (a gp_jwt list), else 0. */
GP_API int gp_jwt_match(gp_bytes patterns, const void *name, size_t len);

/* ==== >>app  the group-push protocol ======================================== */

typedef struct gp_app gp_app;
/* What on_connect sees of an upgrade request, and what it may attach to the connection. */
typedef struct gp_app_connect {
    const gp_http_request *req;   /* method, path, every header (gp_http_header_get) */
    gp_bytes path;                /* the request target up to '?' */
    gp_bytes query;               /* after '?', still %-encoded (gp_http_query_get); len 0: none */
    const char *peer;             /* the client's address, "IP:PORT" */
    /* set by on_connect (both optional): */
    const void *uid;              /* bind the connection to this user id (copied; at most
                                     max_uid bytes, else the upgrade gets 400) */
    size_t uid_len;
    void *data;                   /* user data, gp_app_conn_data(); handed back once to
                                     on_release */
} gp_app_connect;
enum { GP_APP_ALLOW = 0, GP_APP_DENY = 1 };
typedef struct gp_app_config {
    gp_ws_config      ws;         /* limits and on_accept/on_http; message callbacks are the app's */
    gp_chancli_config chan;       /* where the channel is; on_message/on_state are the app's */
    const char *prefix;           /* channel name prefix, NULL = "group:" */
    const char *user_prefix;      /* channel of user U: user_prefix + U, NULL = "user:" */
    const char *control_prefix;   /* group_info's control channels, NULL = "gp:ctl:" */
    size_t max_group_id;          /* bytes, 0 = default (at most 1024) */
    size_t max_message;           /* bytes of "message" text, 0 = default */
    size_t max_groups_per_conn;   /* 0 = default */
    size_t   history_size;        /* messages of a group kept for recovery (v2 "since"), 0 =
                                     default; GP_APP_NO_HISTORY: none (offsets and epochs stay) */
    uint64_t history_ttl_ms;      /* a group's history is kept this long after its last
                                     message (whole seconds), 0 = default; GP_APP_NO_TTL: no limit */
    size_t   max_recover;         /* messages one recovery replays at most, 0 = default
                                     (history_size); a longer gap is recovered:false */
    size_t max_uid;               /* bytes of a user id, 0 = default (at most 1024) */
    size_t max_info_queries;      /* group_info queries waiting for answers, 0 = default */
    uint64_t info_window_ms;      /* group_info collects answers this long, 0 = default */
    /* Tokens (JWT, HS256; see the manual). token_secret[0].len > 0 turns checking on;
       [1] is a second key accepted during a rotation. The bytes are copied. */
    gp_bytes token_secret[2];
    uint64_t token_grace_ms;      /* 0 = default: time to (re)authenticate, then close 1008 */
    uint64_t token_skew_s;        /* seconds of clock skew for exp/nbf; 0 = none (default) */
    size_t   max_token;           /* bytes, 0 = default */
    /* Hooks for embedders: synchronous, called on the worker's loop. Each may be NULL. */
    /* An upgrade request (after ws.on_accept accepted it): 0 = accept, or an HTTP status
       (e.g. 401, 403) to refuse it. May fill c->uid and c->data. */
    int (*on_connect)(gp_app *app, gp_conn_id id, gp_app_connect *c, void *user);
    /* add_group (after the token's "groups" allowed it): GP_APP_ALLOW or GP_APP_DENY
       (the client gets "forbidden"). */
    int (*on_join)(gp_app *app, gp_conn_id id, const void *group, size_t len, void *user);
    /* send_to_group (after "publish" allowed it); msg is the unescaped text. */
    int (*on_publish)(gp_app *app, gp_conn_id id, const void *group, size_t len,
                      const void *msg, size_t mlen, void *user);
    /* send_to_uid (after "send_to_uid" allowed it). */
    int (*on_send_to_uid)(gp_app *app, gp_conn_id id, const void *uid, size_t len,
                          const void *msg, size_t mlen, void *user);
    /* on_connect's data goes back, exactly once: after ws.on_close, or at once when the
       upgrade fails after on_connect accepted it (a uid over max_uid: 400; no memory),
       or in gp_app_destroy. */
    void (*on_release)(gp_app *app, gp_conn_id id, void *data, void *user);
    void (*on_ready)(gp_app *app, void *user);   /* channel up the first time */
    /* An error reply went to id: code is the stable code of the manual ("bad_json", ...). */
    void (*on_error)(gp_app *app, gp_conn_id id, const char *code, void *user);
    /* A message from the channel for a local group, just before it is queued for its
       members (members: how many, gp_group_size), so the hook can time the fan-out: the
       frames are written at the end of this batch (the after-batch hooks run after it). */
    void (*on_fanout)(gp_app *app, gp_bytes group, size_t members, void *user);
    void *user;
} gp_app_config;
#define GP_APP_NO_HISTORY ((size_t)-1)
#define GP_APP_NO_TTL ((uint64_t)-1)
typedef struct gp_app_stats {
    size_t connections, groups, memberships;
    uint64_t msgs_in, msgs_out, errors;
    uint64_t joins, leaves, publishes;   /* add_group, leave_group, send_to_group accepted */
} gp_app_stats;
GP_API int  gp_app_create(gp_loop *loop, const gp_app_config *cfg, gp_app **out);
GP_API void gp_app_destroy(gp_app *app);
GP_API gp_ws_server *gp_app_ws(gp_app *app);
GP_API gp_chancli   *gp_app_channel(gp_app *app);
GP_API gp_groups    *gp_app_groups(gp_app *app);
GP_API void gp_app_stats_get(const gp_app *app, gp_app_stats *st);
/* Publish to a group from user code (the same path as send_to_group). */
GP_API int  gp_app_publish(gp_app *app, const void *group, size_t glen, const void *msg, size_t len);
/* Send to every connection of user uid, on every worker (the same path as send_to_uid). */
GP_API int  gp_app_send_to_uid(gp_app *app, const void *uid, size_t ulen, const void *msg, size_t len);
/* The user id a connection is bound to (by a token's sub or on_connect); len 0: none. The
   bytes are valid until that connection's next command (an auth moves them) or the end of
   its on_close: copy them to keep them. */
GP_API gp_bytes gp_app_conn_uid(const gp_app *app, gp_conn_id id);
/* on_connect's c->data for the connection, or NULL (valid in ws.on_close too). */
GP_API void *gp_app_conn_data(const gp_app *app, gp_conn_id id);
/* Fail fast before forking: connect to the channel described by chan (host, port, username,
   password as gp_chancli uses them) and send the HELLO 3 [AUTH] the workers will send, all
   within timeout_ms (0 = 3000). Blocking; for a master's start-up, never inside a loop.
   GP_OK: the channel accepts this deployment. Else one line in why[cap] naming the problem:
   GP_ERR_IO cannot connect (errno set), GP_ERR_PROTOCOL refused (WRONGPASS, NOAUTH, a Redis
   older than 6) or not Redis, GP_ERR_AGAIN no answer in time. */
GP_API int  gp_app_check_channel(const gp_chancli_config *chan, uint64_t timeout_ms, char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* GROUPPUSH_H */
#if defined(GROUPPUSH_IMPLEMENTATION) && !defined(GP__IMPLEMENTATION_DONE)
#define GP__IMPLEMENTATION_DONE

#if defined(_FEATURES_H) && defined(__GLIBC__) && !defined(__USE_XOPEN2K8)
#error "grouppush: define _GNU_SOURCE (or _POSIX_C_SOURCE 200809L) before any #include"
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <poll.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#if defined(GP_USE_EPOLL) && defined(__linux__)
#  define GP__HAS_EPOLL 1
#  include <sys/epoll.h>
#else
#  define GP__HAS_EPOLL 0
#endif
#if defined(__linux__)
#  define GP__HAS_PRCTL 1
#  include <sys/prctl.h>
#else
#  define GP__HAS_PRCTL 0
#endif
#if defined(GP_USE_MBEDTLS)
#  define GP__HAS_TLS 1
#  include <mbedtls/version.h>
#  include <mbedtls/ssl.h>
#  include <mbedtls/entropy.h>
#  include <mbedtls/ctr_drbg.h>
#  include <mbedtls/x509_crt.h>
#  include <mbedtls/pk.h>
#  include <mbedtls/error.h>
#  include <mbedtls/net_sockets.h>
#  if !defined(MBEDTLS_VERSION_NUMBER) || MBEDTLS_VERSION_NUMBER < 0x021C0000
#    error "grouppush: GP_USE_MBEDTLS needs mbedTLS 2.28 or 3.x"
#  endif
#else
#  define GP__HAS_TLS 0
#endif
#if defined(GP_NO_SUPERVISOR)
#  define GP__HAS_SUP 0
#else
#  define GP__HAS_SUP 1
#endif
#if defined(__linux__) && defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC) && defined(_GNU_SOURCE)
#  define GP__HAS_ACCEPT4 1
#else
#  define GP__HAS_ACCEPT4 0
#endif
#ifndef MSG_NOSIGNAL
#  define MSG_NOSIGNAL 0
#endif

#if defined(GP_MALLOC) != defined(GP_FREE) || defined(GP_MALLOC) != defined(GP_REALLOC)
#error "grouppush: define all of GP_MALLOC, GP_REALLOC and GP_FREE, or none"
#endif
#ifndef GP_MALLOC
#  define GP_MALLOC(ctx, sz)            ((void)(ctx), malloc(sz))
#  define GP_REALLOC(ctx, p, old, new_) ((void)(ctx), (void)(old), realloc((p), (new_)))
#  define GP_FREE(ctx, p, sz)           ((void)(ctx), (void)(sz), free(p))
#endif
#ifndef GP_ASSERT   /* assert()'s behaviour without its fprintf (libc's assert links printf) */
#  define GP__OWN_ASSERT 1
#  ifdef NDEBUG
#    define GP_ASSERT(c) ((void)0)
#  else
#    define GP_ASSERT(c) ((c) ? (void)0 : gp__assert_fail(#c, __FILE__, __LINE__))
#  endif
#endif
#ifndef GP_LOG_LEVEL
#  define GP_LOG_LEVEL GP_LOG_INFO
#endif

#define GP__MIN(a, b) ((a) < (b) ? (a) : (b))
/* A config default, written once in the config's defaults function (a zero field means default). */
#define GP__DEF(field, value) do { if (!(field)) (field) = (value); } while (0)
#define GP__MAX(a, b) ((a) > (b) ? (a) : (b))
#define GP__LOG(loop, lvl, comp, ...) \
    do { if ((lvl) <= GP_LOG_LEVEL) gp_loop_log((loop), (lvl), (comp), __VA_ARGS__); } while (0)

/* ==== >>util  buffers, hashing, SHA-1, base64, UTF-8. Pure. ================ */

GP_API const char *gp_result_string(int result) {
    switch (result) {
#define GP__X(name, value, text) case value: return text;
        GP__RESULTS(GP__X)
#undef GP__X
        default: return "unknown result";
    }
}


static void *gp__malloc(void *ctx, size_t n) { return GP_MALLOC(ctx, n); }
static void *gp__realloc(void *ctx, void *p, size_t old, size_t n) { return GP_REALLOC(ctx, p, old, n); }
static void gp__free(void *ctx, void *p, size_t n) { if (p) GP_FREE(ctx, p, n); }
static void *gp__calloc(void *ctx, size_t n) {
    void *p = gp__malloc(ctx, n);
    if (p) memset(p, 0, n);
    return p;
}

/* Grow an array of `size`-byte items to hold at least `need`. */
static int gp__grow(void *ctx, void **arr, size_t *cap, size_t need, size_t size) {
    size_t nc;
    void *p;
    if (need <= *cap) return GP_OK;
    nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > ((size_t)-1) / 2 / size) return GP_ERR_NOMEM;
        nc *= 2;
    }
    p = gp__realloc(ctx, *arr, *cap * size, nc * size);
    if (p == NULL) return GP_ERR_NOMEM;
    *arr = p;
    *cap = nc;
    return GP_OK;
}

GP_API int gp_buf_reserve(gp_buf *b, size_t extra) {
    size_t need, nc;
    uint8_t *p;
    if (extra > ((size_t)-1) - b->len) return GP_ERR_NOMEM;
    need = b->len + extra;
    if (need <= b->cap) return GP_OK;
    nc = b->cap ? b->cap : 256;
    while (nc < need) nc = nc > ((size_t)-1) / 2 ? need : nc * 2;
    p = (uint8_t *)gp__realloc(b->alloc_ctx, b->data, b->cap, nc);
    if (p == NULL) return GP_ERR_NOMEM;
    b->data = p;
    b->cap = nc;
    return GP_OK;
}

GP_API int gp_buf_append(gp_buf *b, const void *p, size_t n) {
    if (n == 0) return GP_OK;
    if (gp_buf_reserve(b, n) != GP_OK) return GP_ERR_NOMEM;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return GP_OK;
}

GP_API int gp_parse_uint(const char *s, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    if (s == NULL || out == NULL || *s == '\0') return GP_ERR_INVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (d > max || v > (max - d) / 10) return GP_ERR_INVAL;
        v = v * 10 + d;
    }
    if (*s != '\0') return GP_ERR_INVAL;
    *out = v;
    return GP_OK;
}

/* The formatter (gp_fmt's contract). A conversion is [flags][width][.prec][size]conv;
   the digits of a number are written backwards into d[], then padded and copied. */
static size_t gp__vfmt(char *out, size_t cap, const char *fmt, va_list ap) {
    size_t n = 0;
    while (*fmt) {
        const char *start = fmt, *s = NULL;
        char d[24], sign = 0;
        size_t len = 0, width = 0, prec = (size_t)-1, k;
        int left = 0, zero = 0, size = 0;
        if (*fmt != '%') { s = fmt; while (*fmt && *fmt != '%') fmt++; len = (size_t)(fmt - s); goto put; }
        for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) { if (*fmt == '-') left = 1; else zero = 1; }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (size_t)(*fmt++ - '0');
        if (*fmt == '.' && fmt[1] == '*') { int p = va_arg(ap, int); prec = p < 0 ? (size_t)-1 : (size_t)p; fmt += 2; }
        while (*fmt == 'l' && size < 2) { size++; fmt++; }
        if (*fmt == 'z' && size == 0 && (fmt[1] == 'u' || fmt[1] == 'x')) { size = 3; fmt++; }
        switch (*fmt) {
        case 's':
            s = va_arg(ap, const char *);
            if (s == NULL) s = "(null)";
            while (len < prec && s[len]) len++;
            break;
        case 'c': d[0] = (char)va_arg(ap, int); s = d; len = 1; break;
        case '%': s = "%"; len = 1; break;
        case 'd': case 'i': case 'u': case 'x': {
            unsigned long long v;
            unsigned base = *fmt == 'x' ? 16u : 10u;
            if (*fmt == 'd' || *fmt == 'i') {
                long long sv = size == 0 ? va_arg(ap, int) : size == 1 ? va_arg(ap, long) : va_arg(ap, long long);
                v = sv < 0 ? 0ull - (unsigned long long)sv : (unsigned long long)sv;
                if (sv < 0) sign = '-';
            } else {
                v = size == 0 ? va_arg(ap, unsigned) : size == 1 ? va_arg(ap, unsigned long)
                  : size == 2 ? va_arg(ap, unsigned long long) : va_arg(ap, size_t);
            }
            k = sizeof d;
            do { d[--k] = "0123456789abcdef"[v % base]; v /= base; } while (v);
            s = d + k;
            len = sizeof d - k;
            break;
        }
        default:   /* not a conversion the formatter knows: the text as it stands */
            s = start;
            len = (size_t)(fmt - start) + (*fmt != '\0');
            width = 0;
        }
        if (*fmt) fmt++;
        if (sign && width) width--;
        for (k = len; !left && !zero && k < width; k++) { if (n + 1 < cap) out[n] = ' '; n++; }
        if (sign) { if (n + 1 < cap) out[n] = sign; n++; }
        for (k = len; !left && zero && k < width; k++) { if (n + 1 < cap) out[n] = '0'; n++; }
    put:
        for (k = 0; k < len; k++, n++) if (n + 1 < cap) out[n] = s[k];
        for (k = len; left && k < width; k++) { if (n + 1 < cap) out[n] = ' '; n++; }
    }
    if (cap) out[n < cap ? n : cap - 1] = '\0';
    return n;
}

GP_API size_t gp_fmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    n = gp__vfmt(out, cap, fmt, ap);
    va_end(ap);
    return n;
}

GP_API int gp_print(int fd, const char *fmt, ...) {
    char line[1024], *p = line;
    va_list ap;
    size_t n, off = 0;
    int rc = GP_OK;
    va_start(ap, fmt);
    n = gp__vfmt(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= sizeof line) {   /* longer than a line (a --help text): formatted again, whole */
        if ((p = (char *)gp__malloc(NULL, n + 1)) == NULL) return GP_ERR_NOMEM;
        va_start(ap, fmt);
        gp__vfmt(p, n + 1, fmt, ap);
        va_end(ap);
    }
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) { rc = GP_ERR_IO; break; }
        off += (size_t)w;
    }
    if (p != line) gp__free(NULL, p, n + 1);
    return rc;
}

#if defined(GP__OWN_ASSERT) && !defined(NDEBUG)
static void gp__assert_fail(const char *what, const char *file, int line) {
    gp_print(2, "grouppush: assertion failed: %s (%s:%d)\n", what, file, line);
    abort();
}
#endif

GP_API void gp_log_stderr(void *user, int level, const char *component, const char *msg) {
    /* char arrays, not pointers: a table of pointers to literals would keep every literal
       the compiler could not give to one function (all of them, in one section) */
    static const char names[][6] = { "", "error", "warn", "info", "debug" };
    (void)user;
    gp_print(2, "[%ld %s %s] %s\n", (long)getpid(), component, names[level >= 1 && level <= 4 ? level : 0], msg);
}

static int gp__buf_puts(gp_buf *b, const char *s) { return gp_buf_append(b, s, strlen(s)); }
#define gp__buf_printf gp_buf_printf
GP_API int gp_buf_printf(gp_buf *b, const char *fmt, ...) {
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    n = gp__vfmt(NULL, 0, fmt, ap);
    va_end(ap);
    if (gp_buf_reserve(b, n + 1) != GP_OK) return GP_ERR_NOMEM;
    va_start(ap, fmt);
    gp__vfmt((char *)b->data + b->len, n + 1, fmt, ap);
    va_end(ap);
    b->len += n;
    return GP_OK;
}

GP_API void gp_buf_consume(gp_buf *b, size_t n) {
    if (n >= b->len) { b->len = 0; return; }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

GP_API void gp_buf_free(gp_buf *b) {
    gp__free(b->alloc_ctx, b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}

static uint32_t gp__hash(const void *p, size_t n) {   /* FNV-1a */
    const uint8_t *s = (const uint8_t *)p;
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) { h ^= s[i]; h *= 16777619u; }
    return h;
}

static int gp__lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static int gp__hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = gp__lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int gp__ieq(const uint8_t *a, size_t n, const char *b) {
    size_t i;
    if (strlen(b) != n) return 0;
    for (i = 0; i < n; i++) if (gp__lower(a[i]) != gp__lower((uint8_t)b[i])) return 0;
    return 1;
}

static void gp__be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static uint32_t gp__rd16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }

GP_API uint64_t gp_time_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* SHA-1, RFC 3174. */
static uint32_t gp__rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }
static void gp__sha1_block(uint32_t h[5], const uint8_t *p) {
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
               ((uint32_t)p[4 * i + 2] << 8) | p[4 * i + 3];
    for (i = 16; i < 80; i++) w[i] = gp__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20)      { f = (b & c) | (~b & d);          k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d;                   k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
        else             { f = b ^ c ^ d;                   k = 0xCA62C1D6u; }
        t = gp__rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = gp__rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

GP_API void gp_sha1(const void *data, size_t len, uint8_t out[20]) {
    uint32_t h[5] = { 0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u };
    const uint8_t *p = (const uint8_t *)data;
    uint8_t tail[128];
    size_t rest = len, tl, i;
    uint64_t bits = (uint64_t)len * 8u;
    while (rest >= 64) { gp__sha1_block(h, p); p += 64; rest -= 64; }
    memcpy(tail, p, rest);
    tail[rest] = 0x80;
    tl = rest + 1 <= 56 ? 64 : 128;
    memset(tail + rest + 1, 0, tl - rest - 1);
    for (i = 0; i < 8; i++) tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    gp__sha1_block(h, tail);
    if (tl == 128) gp__sha1_block(h, tail + 64);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24); out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8); out[4 * i + 3] = (uint8_t)h[i];
    }
}

/* SHA-256, FIPS 180-4 section 6.2; incremental (gp__sha256_*) so that HMAC hashes
   key pad || message without a copy. */
typedef struct gp__sha256 { uint32_t h[8]; uint8_t buf[64]; size_t n; uint64_t total; } gp__sha256;
static const uint32_t gp__sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
};
static uint32_t gp__ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
static void gp__sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) |
               ((uint32_t)p[4 * i + 2] << 8) | p[4 * i + 3];
    for (i = 16; i < 64; i++)
        w[i] = (gp__ror(w[i - 2], 17) ^ gp__ror(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
               (gp__ror(w[i - 15], 7) ^ gp__ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; k = h[7];
    for (i = 0; i < 64; i++) {
        t1 = k + (gp__ror(e, 6) ^ gp__ror(e, 11) ^ gp__ror(e, 25)) + ((e & f) ^ (~e & g)) + gp__sha256_k[i] + w[i];
        t2 = (gp__ror(a, 2) ^ gp__ror(a, 13) ^ gp__ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}
static void gp__sha256_init(gp__sha256 *s) {
    static const uint32_t iv[8] = { 0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u };
    memcpy(s->h, iv, sizeof iv);
    s->n = 0;
    s->total = 0;
}
static void gp__sha256_update(gp__sha256 *s, const void *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    s->total += len;
    if (s->n > 0) {
        size_t take = GP__MIN(len, 64 - s->n);
        memcpy(s->buf + s->n, p, take);
        s->n += take; p += take; len -= take;
        if (s->n < 64) return;
        gp__sha256_block(s->h, s->buf);
        s->n = 0;
    }
    while (len >= 64) { gp__sha256_block(s->h, p); p += 64; len -= 64; }
    if (len) memcpy(s->buf, p, len);
    s->n = len;
}
static void gp__sha256_final(gp__sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->total * 8u;
    size_t i;
    s->buf[s->n++] = 0x80;
    if (s->n > 56) {
        memset(s->buf + s->n, 0, 64 - s->n);
        gp__sha256_block(s->h, s->buf);
        s->n = 0;
    }
    memset(s->buf + s->n, 0, 56 - s->n);
    for (i = 0; i < 8; i++) s->buf[63 - i] = (uint8_t)(bits >> (8 * i));
    gp__sha256_block(s->h, s->buf);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24); out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8); out[4 * i + 3] = (uint8_t)s->h[i];
    }
}
GP_API void gp_sha256(const void *data, size_t len, uint8_t out[32]) {
    gp__sha256 s;
    gp__sha256_init(&s);
    gp__sha256_update(&s, data, len);
    gp__sha256_final(&s, out);
}

/* HMAC (RFC 2104): H(K ^ opad || H(K ^ ipad || m)), a key over the block size hashed first. */
GP_API void gp_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32]) {
    uint8_t k[64], pad[64], inner[32];
    gp__sha256 s;
    size_t i;
    memset(k, 0, sizeof k);
    if (klen > 64) gp_sha256(key, klen, k);
    else if (klen) memcpy(k, key, klen);
    for (i = 0; i < 64; i++) pad[i] = (uint8_t)(k[i] ^ 0x36);
    gp__sha256_init(&s);
    gp__sha256_update(&s, pad, 64);
    gp__sha256_update(&s, data, len);
    gp__sha256_final(&s, inner);
    for (i = 0; i < 64; i++) pad[i] = (uint8_t)(k[i] ^ 0x5c);
    gp__sha256_init(&s);
    gp__sha256_update(&s, pad, 64);
    gp__sha256_update(&s, inner, 32);
    gp__sha256_final(&s, out);
}

GP_API int gp_ct_equal(const void *a, const void *b, size_t n) {
    const volatile uint8_t *x = (const volatile uint8_t *)a, *y = (const volatile uint8_t *)b;
    uint8_t d = 0;
    size_t i;
    for (i = 0; i < n; i++) d = (uint8_t)(d | (x[i] ^ y[i]));
    return d == 0;
}

static const char gp__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
GP_API size_t gp_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap) {
    size_t o = 0, i;
    if (n > ((size_t)-1) / 2 || cap < (n + 2) / 3 * 4 + 1) return 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = gp__b64[v >> 18]; out[o++] = gp__b64[(v >> 12) & 63];
        out[o++] = gp__b64[(v >> 6) & 63]; out[o++] = gp__b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        out[o++] = gp__b64[v >> 18]; out[o++] = gp__b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? gp__b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* url: the URL-safe alphabet of RFC 4648 section 5 ('-' and '_' for '+' and '/'). */
static int gp__b64val(int c, int url) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == (url ? '-' : '+')) return 62;
    if (c == (url ? '_' : '/')) return 63;
    return -1;
}

/* base64url without padding, as JWS uses it (RFC 7515 section 2): strict, so that one
   byte string has one encoding - a length of 4k+1 and set bits after the last byte are
   errors. Returns bytes written, or -1 on bad input or small cap. */
static long gp__b64url_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t i, o = 0, want = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    uint32_t w = 0;
    int bits = 0;
    if (n % 4 == 1 || want > cap) return -1;
    for (i = 0; i < n; i++) {
        int v = gp__b64val(in[i], 1);
        if (v < 0) return -1;
        w = (w << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (uint8_t)(w >> bits); w &= (1u << bits) - 1u; }
    }
    return w != 0 ? -1 : (long)o;
}

GP_API long gp_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap) {
    size_t i, o = 0, pad = 0;
    if (n % 4 != 0) return -1;
    if (n > 0 && in[n - 1] == '=') pad++;
    if (n > 1 && in[n - 2] == '=') pad++;
    if (n / 4 * 3 - pad > cap) return -1;
    for (i = 0; i < n; i += 4) {
        int v[4], k;
        uint32_t w;
        for (k = 0; k < 4; k++) {
            int c = (unsigned char)in[i + (size_t)k];
            if (c == '=' && i + 4 == n && (size_t)k >= 4 - pad) v[k] = 0;
            else if ((v[k] = gp__b64val(c, 0)) < 0) return -1;
        }
        w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (!(i + 4 == n && pad >= 2)) out[o++] = (uint8_t)(w >> 8);
        if (!(i + 4 == n && pad >= 1)) out[o++] = (uint8_t)w;
    }
    return (long)o;
}

/* UTF-8 DFA: byte classes, then states (multiples of 12). Accepts exactly the
   well-formed sequences of Unicode 3.9 / RFC 3629 table. */
static const uint8_t gp__utf8_class[256] = {
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,
    7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7, 7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,
    8,8,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    10,3,3,3,3,3,3,3,3,3,3,3,3,4,3,3, 11,6,6,6,5,8,8,8,8,8,8,8,8,8,8,8
};

static const uint8_t gp__utf8_trans[108] = {
    0,12,24,36,60,96,84,12,12,12,48,72,      /* 0: accept */
    12,12,12,12,12,12,12,12,12,12,12,12,     /* 12: reject */
    12,0,12,12,12,12,12,0,12,0,12,12,        /* 24: 1 more byte */
    12,24,12,12,12,12,12,24,12,24,12,12,     /* 36: 2 more */
    12,12,12,12,12,12,12,24,12,12,12,12,     /* 48: E0, needs A0..BF */
    12,24,12,12,12,12,12,12,12,24,12,12,     /* 60: ED, needs 80..9F */
    12,12,12,12,12,12,12,36,12,36,12,12,     /* 72: F0, needs 90..BF */
    12,36,12,12,12,12,12,36,12,36,12,12,     /* 84: F1-F3 */
    12,36,12,12,12,12,12,12,12,12,12,12      /* 96: F4, needs 80..8F */
};

GP_API uint32_t gp_utf8_feed(uint32_t state, const uint8_t *p, size_t n) {
    size_t i = 0;
    if (state == GP_UTF8_REJECT) return state;
    for (;;) {
        /* ASCII fast path, 8 bytes at a time, only between sequences */
        if (state == GP_UTF8_ACCEPT) {
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
        }
        if (i >= n) break;
        state = gp__utf8_trans[state + gp__utf8_class[p[i++]]];
        if (state == GP_UTF8_REJECT) break;
    }
    return state;
}

/* ==== >>loop  poll|epoll backend, timers, hooks. Uses: >>util ============ */

typedef struct gp__fdent {   /* 24 bytes on LP64: one per descriptor number */
    gp_loop_io_fn fn;
    void *user;
    int pidx;          /* poll backend: index in pfds, or -1 */
    uint16_t events;   /* watched mask; 0 with fn == NULL = unused */
    uint16_t gen;      /* bumped on every watch/unwatch: drops stale fired events (a
                          descriptor would have to be reused 32768 times in one batch to
                          alias) */
} gp__fdent;
typedef struct gp__fired { int fd, events; uint16_t gen; } gp__fired;
typedef struct gp__timer {
    uint64_t when, repeat;
    gp_loop_fn fn;
    void *user;
    uint32_t gen, heap_idx;   /* heap_idx UINT32_MAX = free slot */
    uint32_t next_free;
} gp__timer;
typedef struct gp__hook { gp_loop_fn fn; void *user; } gp__hook;

struct gp_loop {
    void *alloc_ctx;
    gp_log_fn log_fn;
    void *log_user;
    int log_level;
    gp__fdent *fds;
    size_t fds_cap;
    gp__fired *fired;
    size_t fired_cap, nfired;
    size_t nwatched;
#if GP__HAS_EPOLL
    int epfd;
    struct epoll_event *evs;
    size_t evs_cap;
#else
    struct pollfd *pfds;
    size_t npfds, pfds_cap;
#endif
    gp__timer *timers;
    size_t timers_cap;
    uint32_t free_timer;
    uint32_t *heap;
    size_t heap_len, heap_cap;
    gp__hook *hooks;
    size_t nhooks, hooks_cap;
    uint64_t now;
    int stop;
};

GP_API void gp_loop_log(gp_loop *loop, int level, const char *component, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    if (loop == NULL || loop->log_fn == NULL || level > loop->log_level) return;
    va_start(ap, fmt);
    gp__vfmt(msg, sizeof msg, fmt, ap);
    va_end(ap);
    loop->log_fn(loop->log_user, level, component, msg);
}

/* --- backend contract: init, free, set(fd, old, new mask), del(fd), wait(ms) -> fired[] --- */
#if GP__HAS_EPOLL
static int gp__be_init(gp_loop *l) {
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    return l->epfd < 0 ? GP_ERR_IO : GP_OK;
}

static void gp__be_free(gp_loop *l) {
    if (l->epfd >= 0) close(l->epfd);
    gp__free(l->alloc_ctx, l->evs, l->evs_cap * sizeof *l->evs);
}

static int gp__be_set(gp_loop *l, int fd, int old, int mask) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = ((mask & GP_LOOP_READ) ? EPOLLIN : 0u) | ((mask & GP_LOOP_WRITE) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    if (epoll_ctl(l->epfd, old ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0) return GP_ERR_IO;
    return GP_OK;
}

static void gp__be_del(gp_loop *l, int fd) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, &ev);
}

static int gp__be_wait(gp_loop *l, int timeout) {
    int n, i;
    if (l->evs_cap < GP__MAX(l->nwatched, 64) &&
        gp__grow(l->alloc_ctx, (void **)&l->evs, &l->evs_cap, GP__MIN(GP__MAX(l->nwatched, 64), 4096),
                 sizeof *l->evs) != GP_OK && l->evs_cap == 0)
        return GP_ERR_NOMEM;
    n = epoll_wait(l->epfd, l->evs, (int)l->evs_cap, timeout);
    if (n < 0) return errno == EINTR ? 0 : GP_ERR_IO;
    if (gp__grow(l->alloc_ctx, (void **)&l->fired, &l->fired_cap, (size_t)n, sizeof *l->fired) != GP_OK)
        return GP_ERR_NOMEM;
    l->nfired = 0;
    for (i = 0; i < n; i++) {
        uint32_t e = l->evs[i].events;
        gp__fired *f = &l->fired[l->nfired++];
        f->fd = l->evs[i].data.fd;
        f->events = ((e & EPOLLIN) ? GP_LOOP_READ : 0) | ((e & EPOLLOUT) ? GP_LOOP_WRITE : 0) |
                    ((e & (EPOLLERR | EPOLLHUP)) ? GP_LOOP_ERROR : 0);
        f->gen = l->fds[f->fd].gen;
    }
    return n;
}

static const char *gp__be_name(void) { return "epoll"; }
#else
static int gp__be_init(gp_loop *l) { (void)l; return GP_OK; }
static void gp__be_free(gp_loop *l) {
    gp__free(l->alloc_ctx, l->pfds, l->pfds_cap * sizeof *l->pfds);
}

static int gp__be_set(gp_loop *l, int fd, int old, int mask) {
    gp__fdent *e = &l->fds[fd];
    short pe = (short)(((mask & GP_LOOP_READ) ? POLLIN : 0) | ((mask & GP_LOOP_WRITE) ? POLLOUT : 0));
    (void)old;
    if (e->pidx < 0) {
        if (gp__grow(l->alloc_ctx, (void **)&l->pfds, &l->pfds_cap, l->npfds + 1, sizeof *l->pfds) != GP_OK)
            return GP_ERR_NOMEM;
        e->pidx = (int)l->npfds++;
        l->pfds[e->pidx].fd = fd;
    }
    l->pfds[e->pidx].events = pe;
    l->pfds[e->pidx].revents = 0;
    return GP_OK;
}

static void gp__be_del(gp_loop *l, int fd) {
    gp__fdent *e = &l->fds[fd];
    if (e->pidx >= 0) {
        size_t last = --l->npfds;
        if ((size_t)e->pidx != last) {
            l->pfds[e->pidx] = l->pfds[last];
            l->fds[l->pfds[e->pidx].fd].pidx = e->pidx;
        }
        e->pidx = -1;
    }
}

static int gp__be_wait(gp_loop *l, int timeout) {
    size_t i;
    int n = poll(l->pfds, (nfds_t)l->npfds, timeout), left;
    if (n < 0) return errno == EINTR ? 0 : GP_ERR_IO;
    if (gp__grow(l->alloc_ctx, (void **)&l->fired, &l->fired_cap, (size_t)n, sizeof *l->fired) != GP_OK)
        return GP_ERR_NOMEM;
    l->nfired = 0;
    for (i = 0, left = n; i < l->npfds && left > 0; i++) {
        short r = l->pfds[i].revents;
        gp__fired *f;
        if (r == 0) continue;
        left--;
        f = &l->fired[l->nfired++];
        f->fd = l->pfds[i].fd;
        f->events = ((r & POLLIN) ? GP_LOOP_READ : 0) | ((r & POLLOUT) ? GP_LOOP_WRITE : 0) |
                    ((r & (POLLERR | POLLHUP | POLLNVAL)) ? GP_LOOP_ERROR : 0);
        f->gen = l->fds[f->fd].gen;
    }
    return n;
}

static const char *gp__be_name(void) { return "poll"; }
#endif

GP_API int gp_loop_create(const gp_loop_config *cfg, gp_loop **out) {
    gp_loop_config def;
    gp_loop *l;
    int rc;
    if (out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    if (cfg == NULL) { memset(&def, 0, sizeof def); cfg = &def; }
    l = (gp_loop *)gp__calloc(cfg->alloc_ctx, sizeof *l);
    if (l == NULL) return GP_ERR_NOMEM;
    l->alloc_ctx = cfg->alloc_ctx;
    l->log_fn = cfg->log_fn;
    l->log_user = cfg->log_user;
    l->log_level = cfg->log_level ? cfg->log_level : GP_LOG_INFO;
    l->free_timer = UINT32_MAX;
#if GP__HAS_EPOLL
    l->epfd = -1;
#endif
    if ((rc = gp__be_init(l)) != GP_OK) { gp__free(cfg->alloc_ctx, l, sizeof *l); return rc; }
    l->now = gp_time_ms();
    *out = l;
    return GP_OK;
}

GP_API void gp_loop_destroy(gp_loop *l) {
    if (l == NULL) return;
    gp__be_free(l);
    gp__free(l->alloc_ctx, l->fds, l->fds_cap * sizeof *l->fds);
    gp__free(l->alloc_ctx, l->fired, l->fired_cap * sizeof *l->fired);
    gp__free(l->alloc_ctx, l->timers, l->timers_cap * sizeof *l->timers);
    gp__free(l->alloc_ctx, l->heap, l->heap_cap * sizeof *l->heap);
    gp__free(l->alloc_ctx, l->hooks, l->hooks_cap * sizeof *l->hooks);
    gp__free(l->alloc_ctx, l, sizeof *l);
}

GP_API int gp_loop_watch(gp_loop *l, int fd, int events, gp_loop_io_fn fn, void *user) {
    gp__fdent *e;
    int rc;
    if (l == NULL || fd < 0 || fn == NULL) return GP_ERR_INVAL;
    if ((size_t)fd >= l->fds_cap) {
        size_t old = l->fds_cap, i;
        if (gp__grow(l->alloc_ctx, (void **)&l->fds, &l->fds_cap, (size_t)fd + 1, sizeof *l->fds) != GP_OK)
            return GP_ERR_NOMEM;
        for (i = old; i < l->fds_cap; i++) {
            memset(&l->fds[i], 0, sizeof l->fds[i]);
            l->fds[i].pidx = -1;
        }
    }
    e = &l->fds[fd];
    if ((rc = gp__be_set(l, fd, e->fn != NULL, events)) != GP_OK) return rc;
    if (e->fn == NULL) { l->nwatched++; e->gen++; }
    e->fn = fn;
    e->user = user;
    e->events = (uint16_t)events;
    return GP_OK;
}

GP_API int gp_loop_set_events(gp_loop *l, int fd, int events) {
    gp__fdent *e;
    if (l == NULL || fd < 0 || (size_t)fd >= l->fds_cap || l->fds[fd].fn == NULL) return GP_ERR_INVAL;
    e = &l->fds[fd];
    if (e->events == events) return GP_OK;
    if (gp__be_set(l, fd, 1, events) != GP_OK) return GP_ERR_IO;
    e->events = (uint16_t)events;
    return GP_OK;
}

GP_API int gp_loop_unwatch(gp_loop *l, int fd) {
    gp__fdent *e;
    if (l == NULL || fd < 0 || (size_t)fd >= l->fds_cap || l->fds[fd].fn == NULL) return GP_ERR_INVAL;
    e = &l->fds[fd];
    gp__be_del(l, fd);
    e->fn = NULL;
    e->user = NULL;
    e->events = 0;
    e->gen++;
    l->nwatched--;
    return GP_OK;
}

/* timers: a binary min-heap of slot indices; ids = generation << 32 | (slot + 1) */
static int gp__tless(gp_loop *l, uint32_t a, uint32_t b) { return l->timers[a].when < l->timers[b].when; }
static void gp__tswap(gp_loop *l, size_t i, size_t j) {
    uint32_t t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->timers[l->heap[i]].heap_idx = (uint32_t)i;
    l->timers[l->heap[j]].heap_idx = (uint32_t)j;
}

static void gp__tup(gp_loop *l, size_t i) {
    while (i > 0 && gp__tless(l, l->heap[i], l->heap[(i - 1) / 2])) { gp__tswap(l, i, (i - 1) / 2); i = (i - 1) / 2; }
}

static void gp__tdown(gp_loop *l, size_t i) {
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->heap_len && gp__tless(l, l->heap[c], l->heap[m])) m = c;
        if (c + 1 < l->heap_len && gp__tless(l, l->heap[c + 1], l->heap[m])) m = c + 1;
        if (m == i) return;
        gp__tswap(l, i, m);
        i = m;
    }
}

static void gp__theap_remove(gp_loop *l, size_t i) {
    size_t last = --l->heap_len;
    if (i != last) {
        gp__tswap(l, i, last);
        gp__tdown(l, i);
        gp__tup(l, i);
    }
}

GP_API uint64_t gp_loop_timer_start(gp_loop *l, uint64_t delay_ms, uint64_t repeat_ms, gp_loop_fn fn,
                                    void *user) {
    uint32_t slot;
    gp__timer *t;
    if (l == NULL || fn == NULL) return 0;
    if (gp__grow(l->alloc_ctx, (void **)&l->heap, &l->heap_cap, l->heap_len + 1, sizeof *l->heap) != GP_OK)
        return 0;
    if (l->free_timer == UINT32_MAX) {
        size_t old = l->timers_cap, i;
        if (gp__grow(l->alloc_ctx, (void **)&l->timers, &l->timers_cap, old + 1, sizeof *l->timers) != GP_OK)
            return 0;
        for (i = l->timers_cap; i > old; i--) {
            memset(&l->timers[i - 1], 0, sizeof l->timers[i - 1]);
            l->timers[i - 1].heap_idx = UINT32_MAX;
            l->timers[i - 1].next_free = l->free_timer;
            l->free_timer = (uint32_t)(i - 1);
        }
    }
    slot = l->free_timer;
    t = &l->timers[slot];
    l->free_timer = t->next_free;
    t->when = l->now + delay_ms;
    t->repeat = repeat_ms;
    t->fn = fn;
    t->user = user;
    t->gen++;
    t->heap_idx = (uint32_t)l->heap_len;
    l->heap[l->heap_len++] = slot;
    gp__tup(l, t->heap_idx);
    return ((uint64_t)t->gen << 32) | (slot + 1u);
}

static void gp__timer_free(gp_loop *l, uint32_t slot) {
    gp__timer *t = &l->timers[slot];
    t->heap_idx = UINT32_MAX;
    t->fn = NULL;
    t->next_free = l->free_timer;
    l->free_timer = slot;
}

GP_API int gp_loop_timer_stop(gp_loop *l, uint64_t id) {
    uint32_t slot = (uint32_t)(id & 0xffffffffu);
    gp__timer *t;
    if (l == NULL || slot == 0 || slot > l->timers_cap) return GP_ERR_NOTFOUND;
    t = &l->timers[slot - 1];
    if (t->heap_idx == UINT32_MAX || t->gen != (uint32_t)(id >> 32)) return GP_ERR_NOTFOUND;
    gp__theap_remove(l, t->heap_idx);
    gp__timer_free(l, slot - 1);
    return GP_OK;
}

static void gp__run_timers(gp_loop *l) {
    size_t budget = l->heap_len + 16;   /* a timer re-armed at 0 ms cannot starve the loop */
    while (l->heap_len > 0 && budget-- > 0) {
        uint32_t slot = l->heap[0];
        gp__timer *t = &l->timers[slot];
        gp_loop_fn fn = t->fn;
        void *user = t->user;
        if (t->when > l->now) break;
        if (t->repeat) {
            t->when = l->now + t->repeat;
            gp__tdown(l, 0);
        } else {
            gp__theap_remove(l, 0);
            gp__timer_free(l, slot);
        }
        fn(l, user);
    }
}

GP_API int gp_loop_hook_add(gp_loop *l, gp_loop_fn fn, void *user) {
    if (l == NULL || fn == NULL) return GP_ERR_INVAL;
    if (gp__grow(l->alloc_ctx, (void **)&l->hooks, &l->hooks_cap, l->nhooks + 1, sizeof *l->hooks) != GP_OK)
        return GP_ERR_NOMEM;
    l->hooks[l->nhooks].fn = fn;
    l->hooks[l->nhooks].user = user;
    l->nhooks++;
    return GP_OK;
}

GP_API void gp_loop_hook_remove(gp_loop *l, gp_loop_fn fn, void *user) {
    size_t i;
    if (l == NULL) return;
    for (i = 0; i < l->nhooks; i++)
        if (l->hooks[i].fn == fn && l->hooks[i].user == user) l->hooks[i].fn = NULL;
}

static void gp__run_hooks(gp_loop *l) {
    size_t i, j;
    for (i = 0; i < l->nhooks; i++)
        if (l->hooks[i].fn) l->hooks[i].fn(l, l->hooks[i].user);
    for (i = j = 0; i < l->nhooks; i++)
        if (l->hooks[i].fn) l->hooks[j++] = l->hooks[i];
    l->nhooks = j;
}

GP_API int gp_loop_run_once(gp_loop *l, int timeout_ms) {
    int n, i, nd = 0;
    if (l == NULL) return GP_ERR_INVAL;
    l->now = gp_time_ms();
    if (l->heap_len > 0) {
        uint64_t w = l->timers[l->heap[0]].when;
        int tt = w <= l->now ? 0 : (int)GP__MIN(w - l->now, (uint64_t)INT_MAX);
        if (timeout_ms < 0 || tt < timeout_ms) timeout_ms = tt;
    }
    n = gp__be_wait(l, timeout_ms);
    if (n < 0) return n;
    l->now = gp_time_ms();
    for (i = 0; i < (int)l->nfired; i++) {
        gp__fired f = l->fired[i];
        gp__fdent *e;
        if ((size_t)f.fd >= l->fds_cap) continue;
        e = &l->fds[f.fd];
        if (e->fn == NULL || e->gen != f.gen) continue;   /* unwatched or replaced meanwhile */
        e->fn(l, f.fd, f.events, e->user);
        nd++;
    }
    gp__run_timers(l);
    gp__run_hooks(l);
    return nd;
}

GP_API int gp_loop_run(gp_loop *l) {
    if (l == NULL) return GP_ERR_INVAL;
    l->stop = 0;
    while (!l->stop) {
        int rc = gp_loop_run_once(l, -1);
        if (rc < 0 && rc != GP_ERR_NOMEM) return rc;
    }
    return GP_OK;
}

GP_API void gp_loop_stop(gp_loop *l) { if (l) l->stop = 1; }
GP_API uint64_t gp_loop_now(const gp_loop *l) { return l ? l->now : gp_time_ms(); }
GP_API const char *gp_loop_backend(const gp_loop *l) { (void)l; return gp__be_name(); }
GP_API void *gp_loop_alloc_ctx(const gp_loop *l) { return l ? l->alloc_ctx : NULL; }

/* Resident set size of a process in KiB (the channel server's INFO, the supervisor's
   status); 0 where /proc is missing. */
static uint64_t gp__rss_kb(int pid) {
    char path[64], t[2048], *v;
    uint64_t kb = 0;
    ssize_t n;
    int fd;
    gp_fmt(path, sizeof path, "/proc/%d/status", pid);   /* "VmRSS:\t  1234 kB": no page size needed */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) return 0;
    n = read(fd, t, sizeof t - 1);   /* VmRSS is within the first KiB */
    close(fd);
    if (n <= 0) return 0;
    t[n] = '\0';
    for (v = t; strncmp(v, "VmRSS:", 6) != 0; v++)
        if ((v = strchr(v, '\n')) == NULL) return 0;
    for (v += 6; *v == ' ' || *v == '\t'; v++) {}
    while (*v >= '0' && *v <= '9') kb = kb * 10 + (uint64_t)(*v++ - '0');
    return kb;
}

/* ==== >>net  listen/accept/connect. Uses: >>util ========================== */

static int gp__set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return GP_ERR_IO;
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return GP_OK;
}

/* host as a numeric address: an IPv4 or IPv6 literal, "localhost" (127.0.0.1), NULL or ""
   (0.0.0.0 to listen, 127.0.0.1 to connect). GP_OK, or GP_ERR_INVAL for a name: only
   gp_net_connect resolves names, so a program that only listens never links a resolver. */
static int gp__addr(const char *host, int port, int passive, struct sockaddr_storage *ss, socklen_t *len) {
    struct sockaddr_in *a4 = (struct sockaddr_in *)(void *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)(void *)ss;
    memset(ss, 0, sizeof *ss);
    if (host == NULL || host[0] == '\0') host = passive ? "0.0.0.0" : "127.0.0.1";
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return GP_OK;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return GP_OK;
    }
    return GP_ERR_INVAL;
}

GP_API int gp_net_listen(const char *host, int port, int backlog, int flags, int *fd_out) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fd, one = 1, err;
    if (fd_out == NULL || port < 0 || port > 65535) return GP_ERR_INVAL;
    if (gp__addr(host, port, 1, &ss, &len) != GP_OK) { errno = EINVAL; return GP_ERR_IO; }
    if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0) return GP_ERR_IO;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
    if ((flags & GP_NET_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) goto fail;
#endif
    if (ss.ss_family == AF_INET6) {
        int v6 = (flags & GP_NET_V6ONLY) ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
    }
    if (bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, backlog > 0 ? backlog : 1024) == 0 &&
        gp__set_nonblock(fd) == GP_OK) {
        *fd_out = fd;
        return GP_OK;
    }
fail:
    err = errno;
    close(fd);
    errno = err;
    return GP_ERR_IO;
}

/* An address as inet_ntop writes it (RFC 5952 for IPv6: lowercase, no leading zeros, the
   longest run of two or more zero groups as "::", the first of equal runs; ::ffff:a.b.c.d
   for IPv4-mapped), without inet_ntop (musl's links printf). out: at least 46 bytes. */
static void gp__ntop(int family, const void *addr, char *out, size_t cap) {
    const uint8_t *a = (const uint8_t *)addr;
    size_t n = 0;
    int i, best = -1, blen = 1, run = 0;
    if (family == AF_INET) { gp_fmt(out, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]); return; }
    if (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\377\377", 12) == 0) {
        gp_fmt(out, cap, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
        return;
    }
    for (i = 0; i < 8; i++) {
        run = (a[2 * i] | a[2 * i + 1]) ? 0 : run + 1;
        if (run > blen) { blen = run; best = i - run + 1; }
    }
    for (i = 0; i < 8 && n < cap; i++) {
        if (i == best) { n += gp_fmt(out + n, cap - n, "::"); i += blen - 1; continue; }
        n += gp_fmt(out + n, cap - n, i && i != best + blen ? ":%x" : "%x", (unsigned)gp__rd16(a + 2 * i));
    }
}

/* One non-blocking connect attempt; fd, or -1 with errno set. */
static int gp__connect_one(const struct sockaddr *sa, socklen_t len) {
    int one = 1, err, fd = socket(sa->sa_family, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (gp__set_nonblock(fd) == GP_OK) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, sa, len) == 0 || errno == EINPROGRESS) return fd;
    }
    err = errno;
    close(fd);
    errno = err;
    return -1;
}

GP_API int gp_net_connect(const char *host, int port, int *fd_out) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fd = -1;
    if (fd_out == NULL || port <= 0 || port > 65535) return GP_ERR_INVAL;
    if (gp__addr(host, port, 0, &ss, &len) == GP_OK) {
        fd = gp__connect_one((struct sockaddr *)&ss, len);
    } else {
#ifdef GP_NO_RESOLVER
        errno = EINVAL;   /* a name, and no resolver: gp_chancli_parse_url refuses such URLs */
        return GP_ERR_IO;
#else
        struct addrinfo hints, *res = NULL, *ai;
        char ps[8];
        int err = ECONNREFUSED;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        gp_fmt(ps, sizeof ps, "%d", port);
        if (getaddrinfo(host, ps, &hints, &res) != 0) { errno = EINVAL; return GP_ERR_IO; }
        for (ai = res; ai && fd < 0; ai = ai->ai_next)
            if ((fd = gp__connect_one(ai->ai_addr, ai->ai_addrlen)) < 0) err = errno;
        freeaddrinfo(res);
        errno = err;
#endif
    }
    if (fd < 0) return GP_ERR_IO;
    *fd_out = fd;
    return GP_OK;
}

GP_API int gp_net_connect_result(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return GP_ERR_IO;
    if (err != 0) { errno = err; return GP_ERR_IO; }
    return GP_OK;
}

/* "IP:PORT" of a socket's peer (peer = 1) or its own address (0); ":0" when unknown. */
static void gp__net_addr(int fd, int peer, char *out, size_t cap) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[64];
    int port = 0;
    memset(&ss, 0, sizeof ss);
    host[0] = '\0';
    if ((peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) : getsockname(fd, (struct sockaddr *)&ss, &sl)) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)&ss;
            gp__ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)&ss;
            gp__ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
    }
    gp_fmt(out, cap, "%s:%d", host, port);   /* a socketpair() client shows ":0" */
}

GP_API int gp_net_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
    return -1;
}

GP_API int gp_net_split_hostport(const char *s, char *host, size_t cap, int *port) {
    const char *colon, *hs = s, *he;
    uint64_t v;
    if (s == NULL || host == NULL || port == NULL || cap == 0) return GP_ERR_INVAL;
    if (s[0] == '[') {
        hs = s + 1;
        he = strchr(hs, ']');
        if (he == NULL || he[1] != ':') return GP_ERR_INVAL;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) return GP_ERR_INVAL;
        he = colon;
    }
    if ((size_t)(he - hs) >= cap) return GP_ERR_INVAL;
    memmove(host, hs, (size_t)(he - hs));   /* host may be s itself (gp_chancli_parse_url) */
    host[he - hs] = '\0';
    if (gp_parse_uint(colon + 1, 65535, &v) != GP_OK) return GP_ERR_INVAL;
    *port = (int)v;
    return GP_OK;
}

/* ==== >>stream  one non-blocking byte stream under every protocol. Uses: >>loop >>net ====
   A WebSocket connection, a channel-server client and the channel client are each a
   gp__stream: a socket, a transport (plain, or TLS from >>tls), and an output ring of
   references to refcounted frames (gp_msg), written with one sendmsg() per stream per
   batch. A protocol on top owns its input parsing, its state and its close rules; it calls
   gp__stream_push to queue a frame (shared: many streams may hold the same one, encoded
   once), gp__stream_mark to put the stream on its owner's dirty list, and at the end of the
   batch gp__stream_flush. Small writes (replies) are built in a gp_buf and handed over with
   gp__stream_push_buf, which moves the buffer into a frame without a copy. */

#define GP__IOV_MAX 64
struct gp_msg {   /* a frame: refcount, then the bytes (after this header, or held elsewhere) */
    uint32_t refs;
    uint32_t own;         /* 1: data is a separate block of cap bytes (a moved gp_buf) */
    size_t len, cap;
    uint8_t *data;
    void *alloc_ctx;
};
#define GP__MSG_DATA(m) ((m)->data)

static gp_msg *gp__msg_alloc(void *ctx, size_t len) {   /* len bytes right after the header */
    gp_msg *m;
    if (len > ((size_t)-1) - sizeof(gp_msg)) return NULL;
    m = (gp_msg *)gp__malloc(ctx, sizeof(gp_msg) + len);
    if (m == NULL) return NULL;
    m->refs = 1;
    m->own = 0;
    m->len = m->cap = len;
    m->data = (uint8_t *)(m + 1);
    m->alloc_ctx = ctx;
    return m;
}

/* The bytes of b become a frame without a copy; b is left empty (its alloc_ctx kept).
   NULL without memory: b is untouched. */
static gp_msg *gp__msg_from_buf(gp_buf *b) {
    gp_msg *m = (gp_msg *)gp__malloc(b->alloc_ctx, sizeof(gp_msg));
    if (m == NULL) return NULL;
    m->refs = 1;
    m->own = 1;
    m->len = b->len;
    m->cap = b->cap;
    m->data = b->data;
    m->alloc_ctx = b->alloc_ctx;
    b->data = NULL;
    b->len = b->cap = 0;
    return m;
}

static void gp__msg_free(gp_msg *m) {
    if (m->own) {
        gp__free(m->alloc_ctx, m->data, m->cap);
        gp__free(m->alloc_ctx, m, sizeof(gp_msg));
    } else {
        gp__free(m->alloc_ctx, m, sizeof(gp_msg) + m->cap);
    }
}

static void gp__msg_drop(gp_msg *m) { if (--m->refs == 0) gp__msg_free(m); }   /* m != NULL */

GP_API gp_msg *gp_msg_ref(gp_msg *m) { if (m) m->refs++; return m; }

GP_API void gp_msg_unref(gp_msg *m) { if (m) gp__msg_drop(m); }

GP_API size_t gp_msg_size(const gp_msg *m) { return m ? m->len : 0; }

/* ---- the ring: a FIFO of fixed-size elements in a power-of-two array. `one`, when given,
   is room for a single element the ring uses until it needs two, so the common queue of
   one frame costs no allocation. Every queue of the header that is a ring is one of these. */
typedef struct gp__ring { void *v; uint32_t head, count, cap; } gp__ring;
static void *gp__ring_at(const gp__ring *r, size_t esz, uint32_t i) {
    return (uint8_t *)r->v + (size_t)((r->head + i) & (r->cap - 1)) * esz;
}

/* Room for one more element at the back (returned; count already raised), NULL without memory. */
static void *gp__ring_push(void *ctx, gp__ring *r, size_t esz, void *one) {
    if (r->cap == 0) {
        if (one) { r->v = one; r->cap = 1; }
        else if ((r->v = gp__malloc(ctx, 4 * esz)) != NULL) r->cap = 4;
        else return NULL;
        r->head = 0;
    }
    if (r->count == r->cap) {
        uint32_t nc = r->cap < 4 ? 4 : r->cap * 2, i;
        uint8_t *nv;
        if (r->cap >= (uint32_t)1 << 30 || nc > ((size_t)-1) / esz) return NULL;
        if ((nv = (uint8_t *)gp__malloc(ctx, nc * esz)) == NULL) return NULL;
        for (i = 0; i < r->count; i++) memcpy(nv + i * esz, gp__ring_at(r, esz, i), esz);
        if (r->v != one) gp__free(ctx, r->v, r->cap * esz);
        r->v = nv;
        r->cap = nc;
        r->head = 0;
    }
    return gp__ring_at(r, esz, r->count++);
}

static void gp__ring_pop(gp__ring *r) {
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
}

static void gp__ring_free(void *ctx, gp__ring *r, size_t esz, void *one) {   /* the elements are the caller's */
    if (r->v && r->v != one) gp__free(ctx, r->v, r->cap * esz);
    r->v = NULL;
    r->head = r->count = r->cap = 0;
}

/* ---- the stream ---- */
enum { GP__STREAM_DIRTY = 1, GP__STREAM_WANTW = 2, GP__STREAM_TLSUP = 4 };
typedef struct gp__qent { gp_msg *m; size_t off; } gp__qent;   /* a frame and how much of it is sent */
typedef struct gp__stream {
    int fd;
    uint8_t flags;            /* GP__S_* */
    void *tls;                /* the TLS session (>>tls), NULL: plain */
    gp__ring q;               /* of gp__qent */
    gp__qent one;             /* the ring's room for one */
    size_t qbytes;            /* bytes queued and not yet written */
} gp__stream;

/* The transport contract: recv and sendv return like recv(2) and sendmsg(2) (> 0 bytes,
   0 end of stream on recv, -1 with errno; EAGAIN: wait for the fd; a transport that must
   write before it can go on asks for WRITE interest itself); pending says bytes are
   buffered that poll() cannot see; shutdown ends the session politely before SHUT_WR. */
typedef struct gp__transport {
    const char *name;
    ssize_t (*recv)(gp_loop *loop, gp__stream *s, uint8_t *buf, size_t n);
    ssize_t (*sendv)(gp_loop *loop, gp__stream *s, struct iovec *iov, uint32_t k);
    int (*pending)(const gp__stream *s);
    void (*shutdown)(gp__stream *s);
} gp__transport;

static ssize_t gp__plain_recv(gp_loop *loop, gp__stream *s, uint8_t *buf, size_t n) {
    (void)loop;
    return recv(s->fd, buf, n, 0);
}

static ssize_t gp__plain_sendv(gp_loop *loop, gp__stream *s, struct iovec *iov, uint32_t k) {
    struct msghdr mh;
    (void)loop;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = iov;
    mh.msg_iovlen = k;
    return sendmsg(s->fd, &mh, MSG_NOSIGNAL);
}

static int gp__plain_pending(const gp__stream *s) { (void)s; return 0; }
static void gp__plain_shutdown(gp__stream *s) { (void)s; }
static const gp__transport gp__transport_plain = {
    "plain", gp__plain_recv, gp__plain_sendv, gp__plain_pending, gp__plain_shutdown
};

static const gp__transport *gp__transport_tls(void);   /* >>tls */
static const gp__transport *gp__stream_tr(const gp__stream *s) {
    return s->tls ? gp__transport_tls() : &gp__transport_plain;
}

static void gp__stream_init(gp__stream *s, int fd) {
    memset(s, 0, sizeof *s);
    s->fd = fd;
}

static ssize_t gp__stream_recv(gp_loop *loop, gp__stream *s, uint8_t *buf, size_t n) {
    return gp__stream_tr(s)->recv(loop, s, buf, n);
}

static int gp__stream_pending(const gp__stream *s) { return gp__stream_tr(s)->pending(s); }

/* Read what the socket has into in, growing it `chunk` bytes at a time. GP_OK: all there
   was (maybe nothing); GP_ERR_CLOSED: end of stream; GP_ERR_IO: errno says; GP_ERR_NOMEM.
   What was read is added to *bytes_in. */
static int gp__stream_read_buf(gp_loop *loop, gp__stream *s, gp_buf *in, size_t chunk, uint64_t *bytes_in) {
    for (;;) {
        ssize_t r;
        if (gp_buf_reserve(in, chunk) != GP_OK) return GP_ERR_NOMEM;
        r = gp__stream_recv(loop, s, in->data + in->len, in->cap - in->len);
        if (r == 0) return GP_ERR_CLOSED;
        if (r < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? GP_OK : GP_ERR_IO;
        }
        in->len += (size_t)r;
        *bytes_in += (uint64_t)r;
        if (in->len < in->cap) return GP_OK;
    }
}
static void gp__stream_want_write(gp_loop *loop, gp__stream *s, int on) {
    if (on == !!(s->flags & GP__STREAM_WANTW) || s->fd < 0) return;
    s->flags = (uint8_t)(on ? s->flags | GP__STREAM_WANTW : s->flags & ~GP__STREAM_WANTW);
    gp_loop_set_events(loop, s->fd, on ? GP_LOOP_READ | GP_LOOP_WRITE : GP_LOOP_READ);
}

/* Queue a reference to m (the caller keeps its own). GP_ERR_NOMEM: nothing queued. */
static int gp__stream_push(void *ctx, gp__stream *s, gp_msg *m) {
    gp__qent *e;
    if (m->len == 0) return GP_OK;
    if (s->q.count < s->q.cap)   /* the fan-out path: room in the ring, no call */
        e = (gp__qent *)s->q.v + ((s->q.head + s->q.count++) & (s->q.cap - 1));
    else if ((e = (gp__qent *)gp__ring_push(ctx, &s->q, sizeof *e, &s->one)) == NULL)
        return GP_ERR_NOMEM;
    m->refs++;
    e->m = m;
    e->off = 0;
    s->qbytes += m->len;
    return GP_OK;
}

/* Queue the bytes built in b (moved, not copied; b is left empty). */
static int gp__stream_push_buf(void *ctx, gp__stream *s, gp_buf *b) {
    gp_msg *m;
    int rc;
    if (b->len == 0) return GP_OK;
    if ((m = gp__msg_from_buf(b)) == NULL) return GP_ERR_NOMEM;
    rc = gp__stream_push(ctx, s, m);
    gp_msg_unref(m);
    return rc;
}

static void gp__stream_release(void *ctx, gp__stream *s) {   /* drop everything queued */
    while (s->q.count > 0) {
        gp_msg_unref(((gp__qent *)gp__ring_at(&s->q, sizeof(gp__qent), 0))->m);
        gp__ring_pop(&s->q);
    }
    gp__ring_free(ctx, &s->q, sizeof(gp__qent), &s->one);
    s->qbytes = 0;
}

/* Write what is queued, up to GP__IOV_MAX frames per system call. GP_OK: all written (WRITE
   interest dropped); 1: the socket is full (WRITE interest set, the loop calls back);
   GP_ERR_IO: failed, errno set (the caller closes the stream). */
static int gp__stream_flush(gp_loop *loop, gp__stream *s, uint64_t *bytes_out) {
    const gp__transport *tr = gp__stream_tr(s);
    while (s->q.count > 0) {
        struct iovec iov[GP__IOV_MAX];
        uint32_t i, k = GP__MIN(s->q.count, (uint32_t)GP__IOV_MAX);
        ssize_t w;
        for (i = 0; i < k; i++) {
            gp__qent *e = (gp__qent *)gp__ring_at(&s->q, sizeof *e, i);
            iov[i].iov_base = e->m->data + e->off;
            iov[i].iov_len = e->m->len - e->off;
        }
        w = tr->sendv(loop, s, iov, k);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) { gp__stream_want_write(loop, s, 1); return 1; }
            return GP_ERR_IO;
        }
        *bytes_out += (uint64_t)w;
        s->qbytes -= (size_t)w;
        while (w > 0) {
            gp__qent *e = (gp__qent *)gp__ring_at(&s->q, sizeof *e, 0);
            size_t left = e->m->len - e->off;
            if ((size_t)w < left) { e->off += (size_t)w; break; }
            w -= (ssize_t)left;
            gp__msg_drop(e->m);
            gp__ring_pop(&s->q);
        }
    }
    gp__stream_want_write(loop, s, 0);
    return GP_OK;
}

/* Flush with the bytes built in b last (replies, commands). With nothing else queued they
   are written straight from b, which keeps its memory for the next batch; only what the
   socket does not take becomes a queued frame. Results as gp__stream_flush. */
static int gp__stream_flush_buf(void *ctx, gp_loop *loop, gp__stream *s, gp_buf *b, uint64_t *bytes_out) {
    while (s->q.count == 0 && b->len > 0) {
        struct iovec iov;
        ssize_t w;
        iov.iov_base = b->data;
        iov.iov_len = b->len;
        w = gp__stream_tr(s)->sendv(loop, s, &iov, 1);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return GP_ERR_IO;
            break;
        }
        *bytes_out += (uint64_t)w;
        gp_buf_consume(b, (size_t)w);
    }
    if (b->len == 0 && b->cap > 65536) gp_buf_free(b);   /* a one-off big reply: give it back */
    if (gp__stream_push_buf(ctx, s, b) != GP_OK) return GP_ERR_NOMEM;
    return gp__stream_flush(loop, s, bytes_out);
}

/* Everything said: end the TLS session, then half-close (the peer's close completes it). */
static void gp__stream_shutdown(gp__stream *s) {
    gp__stream_tr(s)->shutdown(s);
    shutdown(s->fd, SHUT_WR);
}

/* An idle stream gives its grown ring back. */
static void gp__stream_trim(void *ctx, gp__stream *s) {
    if (s->q.count == 0 && s->q.v && s->q.v != &s->one) gp__ring_free(ctx, &s->q, sizeof(gp__qent), &s->one);
}

/* ---- the dirty list: streams with something to flush at the end of the batch. An owner
   reserves room for every stream it has (gp__dirty_reserve when it adds one), so marking
   never allocates and never fails. ---- */
typedef struct gp__dirty { gp__stream **v; size_t n, cap; } gp__dirty;
static int gp__dirty_reserve(void *ctx, gp__dirty *d, size_t streams) {
    return gp__grow(ctx, (void **)&d->v, &d->cap, streams, sizeof *d->v);
}

static void gp__stream_mark(gp__dirty *d, gp__stream *s) {
    if (s->flags & GP__STREAM_DIRTY) return;
    GP_ASSERT(d->n < d->cap);
    s->flags |= GP__STREAM_DIRTY;
    d->v[d->n++] = s;
}

static void gp__dirty_free(void *ctx, gp__dirty *d) {
    gp__free(ctx, d->v, d->cap * sizeof *d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

/* ==== >>tls  the TLS transport through mbedTLS (GP_USE_MBEDTLS). Uses: >>stream ==== */

#if GP__HAS_TLS
typedef struct gp__tls {   /* what every session of one server shares */
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config conf;
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    void *alloc_ctx;
} gp__tls;
static int gp__tls_bio_send(void *ctx, const unsigned char *buf, size_t len) {
    ssize_t w = send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
    if (w >= 0) return (int)w;
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? MBEDTLS_ERR_SSL_WANT_WRITE
                                                                        : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int gp__tls_bio_recv(void *ctx, unsigned char *buf, size_t len) {
    ssize_t r = recv(*(int *)ctx, buf, len, 0);
    if (r >= 0) return (int)r;
    return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? MBEDTLS_ERR_SSL_WANT_READ
                                                                        : MBEDTLS_ERR_NET_RECV_FAILED;
}

static void gp__tls_free(void *tls) {
    gp__tls *t = (gp__tls *)tls;
    if (t == NULL) return;
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_pk_free(&t->key);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    gp__free(t->alloc_ctx, t, sizeof *t);
}

/* A server context from PEM files; on failure *err says why (mbedTLS's text). */
static int gp__tls_new(void *ctx, const char *cert, const char *key, void **out, char *err, size_t errcap) {
    gp__tls *t = (gp__tls *)gp__calloc(ctx, sizeof *t);
    static const unsigned char pers[] = "grouppush";
    int rc;
    *out = NULL;
    if (t == NULL) return GP_ERR_NOMEM;
    t->alloc_ctx = ctx;
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_x509_crt_init(&t->cert);
    mbedtls_pk_init(&t->key);
    rc = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers, sizeof pers - 1);
    if (rc == 0) rc = mbedtls_x509_crt_parse_file(&t->cert, cert);
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    if (rc == 0) rc = mbedtls_pk_parse_keyfile(&t->key, key, NULL, mbedtls_ctr_drbg_random, &t->drbg);
#else
    if (rc == 0) rc = mbedtls_pk_parse_keyfile(&t->key, key, NULL);
#endif
    if (rc == 0) rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                                  MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0) {
        mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
        rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
    }
    if (rc != 0) {
        mbedtls_strerror(rc, err, errcap);
        gp__tls_free(t);
        return GP_ERR_INVAL;
    }
    *out = t;
    return GP_OK;
}

static int gp__tls_stream_new(void *tls, gp__stream *s) {
    gp__tls *t = (gp__tls *)tls;
    mbedtls_ssl_context *ssl = (mbedtls_ssl_context *)gp__malloc(t->alloc_ctx, sizeof *ssl);
    if (ssl == NULL) return GP_ERR_NOMEM;
    mbedtls_ssl_init(ssl);
    if (mbedtls_ssl_setup(ssl, &t->conf) != 0) {
        mbedtls_ssl_free(ssl);
        gp__free(t->alloc_ctx, ssl, sizeof *ssl);
        return GP_ERR_NOMEM;
    }
    mbedtls_ssl_set_bio(ssl, &s->fd, gp__tls_bio_send, gp__tls_bio_recv, NULL);
    s->tls = ssl;
    return GP_OK;
}

static void gp__tls_stream_free(void *ctx, gp__stream *s) {
    if (s->tls == NULL) return;
    mbedtls_ssl_free((mbedtls_ssl_context *)s->tls);
    gp__free(ctx, s->tls, sizeof(mbedtls_ssl_context));
    s->tls = NULL;
}

/* An mbedTLS result in the recv/send convention; WANT_WRITE also asks for WRITE interest. */
static ssize_t gp__tls_result(gp_loop *loop, gp__stream *s, int rc) {
    if (rc >= 0) return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
        if (rc == MBEDTLS_ERR_SSL_WANT_WRITE) gp__stream_want_write(loop, s, 1);
        errno = EAGAIN;
        return -1;
    }
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
    errno = EPROTO;
    return -1;
}

static ssize_t gp__tls_recv(gp_loop *loop, gp__stream *s, uint8_t *buf, size_t n) {
    mbedtls_ssl_context *ssl = (mbedtls_ssl_context *)s->tls;
    int rc;
    if (!(s->flags & GP__STREAM_TLSUP)) {
        if ((rc = mbedtls_ssl_handshake(ssl)) != 0) return gp__tls_result(loop, s, rc);
        s->flags |= GP__STREAM_TLSUP;
    }
    return gp__tls_result(loop, s, mbedtls_ssl_read(ssl, buf, n));
}

static ssize_t gp__tls_sendv(gp_loop *loop, gp__stream *s, struct iovec *iov, uint32_t k) {
    mbedtls_ssl_context *ssl = (mbedtls_ssl_context *)s->tls;
    ssize_t total = 0;
    uint32_t i;
    for (i = 0; i < k; i++) {   /* a partial record write is retried with the same bytes later */
        int rc = mbedtls_ssl_write(ssl, (const unsigned char *)iov[i].iov_base, iov[i].iov_len);
        if (rc < 0) {
            ssize_t r = gp__tls_result(loop, s, rc);
            return total > 0 ? total : r;
        }
        total += rc;
        if ((size_t)rc < iov[i].iov_len) break;
    }
    return total;
}

static int gp__tls_pending(const gp__stream *s) {   /* decrypted bytes poll() cannot see */
    return mbedtls_ssl_get_bytes_avail((const mbedtls_ssl_context *)s->tls) > 0;
}

static void gp__tls_shutdown(gp__stream *s) { mbedtls_ssl_close_notify((mbedtls_ssl_context *)s->tls); }
static const gp__transport gp__transport_mbedtls = {
    "mbedtls", gp__tls_recv, gp__tls_sendv, gp__tls_pending, gp__tls_shutdown
};

static const gp__transport *gp__transport_tls(void) { return &gp__transport_mbedtls; }
#else
static void gp__tls_free(void *tls) { (void)tls; }
static int gp__tls_new(void *ctx, const char *cert, const char *key, void **out, char *err, size_t errcap) {
    (void)ctx; (void)cert; (void)key;
    *out = NULL;
    gp_fmt(err, errcap, "built without GP_USE_MBEDTLS");
    return GP_ERR_INVAL;
}

static int gp__tls_stream_new(void *tls, gp__stream *s) { (void)tls; (void)s; return GP_ERR_INVAL; }
static void gp__tls_stream_free(void *ctx, gp__stream *s) { (void)ctx; (void)s; }
static const gp__transport *gp__transport_tls(void) { return &gp__transport_plain; }   /* never chosen */
#endif

/* ==== >>http  upgrade request parser. Pure: no I/O, no allocation. Uses: >>util ==== */

static int gp__tchar(uint8_t c) {   /* RFC 9110 token characters */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static gp_bytes gp__trim(const uint8_t *p, size_t n) {
    gp_bytes b;
    while (n > 0 && (p[0] == ' ' || p[0] == '\t')) { p++; n--; }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    b.ptr = p;
    b.len = n;
    return b;
}

GP_API int gp_http_parse_request(const uint8_t *buf, size_t len, gp_http_request *req) {
    return gp_http_parse_head(buf, len, 0, req);
}

GP_API int gp_http_parse_head(const uint8_t *buf, size_t len, size_t last_len, gp_http_request *req) {
    size_t i = 0, head = 0, k;
    /* find the blank line that ends the head: "\r\n\r\n" (or bare "\n\n"), in the new
       bytes and the 3 before them (a terminator split across calls) */
    for (k = last_len > 3 ? last_len - 3 : 0; k < len; k++) {
        if (buf[k] != '\n') continue;
        if (k + 1 < len && buf[k + 1] == '\n') { head = k + 2; break; }
        if (k + 2 < len && buf[k + 1] == '\r' && buf[k + 2] == '\n') { head = k + 3; break; }
    }
    if (head == 0) return 0;
    memset(req, 0, sizeof *req);
    /* request-line = method SP request-target SP HTTP-version CRLF */
    while (i < head && gp__tchar(buf[i])) i++;
    if (i == 0 || buf[i] != ' ') return GP_ERR_PROTOCOL;
    req->method.ptr = buf;
    req->method.len = i;
    k = ++i;
    while (i < head && buf[i] > ' ' && buf[i] < 0x7f) i++;
    if (i == k || buf[i] != ' ') return GP_ERR_PROTOCOL;
    req->path.ptr = buf + k;
    req->path.len = i - k;
    i++;
    if (head - i < 9 || memcmp(buf + i, "HTTP/1.", 7) != 0 || buf[i + 7] < '0' || buf[i + 7] > '9')
        return GP_ERR_PROTOCOL;
    req->minor_version = buf[i + 7] - '0';
    i += 8;
    if (buf[i] == '\r') i++;
    if (buf[i] != '\n') return GP_ERR_PROTOCOL;
    i++;
    /* header-field = field-name ":" OWS field-value OWS CRLF; no obs-fold */
    while (i < head) {
        size_t ns = i, vs;
        if (buf[i] == '\r' || buf[i] == '\n') break;
        while (i < head && gp__tchar(buf[i])) i++;
        if (i == ns || buf[i] != ':') return GP_ERR_PROTOCOL;
        if (req->num_headers >= GP_HTTP_MAX_HEADERS) return GP_ERR_TOO_BIG;
        req->headers[req->num_headers].name.ptr = buf + ns;
        req->headers[req->num_headers].name.len = i - ns;
        vs = ++i;
        while (i < head && buf[i] != '\n') {
            if (buf[i] < ' ' && buf[i] != '\t' && buf[i] != '\r') return GP_ERR_PROTOCOL;
            if (buf[i] == '\r' && buf[i + 1] != '\n') return GP_ERR_PROTOCOL;
            i++;
        }
        k = i;
        if (k > vs && buf[k - 1] == '\r') k--;
        req->headers[req->num_headers].value = gp__trim(buf + vs, k - vs);
        req->num_headers++;
        i++;
    }
    return (int)GP__MIN(head, (size_t)INT_MAX);
}

GP_API const gp_bytes *gp_http_header_get(const gp_http_request *req, const char *name) {
    size_t i;
    for (i = 0; i < req->num_headers; i++)
        if (gp__ieq(req->headers[i].name.ptr, req->headers[i].name.len, name)) return &req->headers[i].value;
    return NULL;
}

GP_API int gp_http_has_token(gp_bytes v, const char *token) {
    size_t i = 0;
    while (i < v.len) {
        size_t s = i;
        gp_bytes t;
        while (i < v.len && v.ptr[i] != ',') i++;
        t = gp__trim(v.ptr + s, i - s);
        if (gp__ieq(t.ptr, t.len, token)) return 1;
        i++;
    }
    return 0;
}

GP_API long gp_http_query_get(gp_bytes q, const char *name, uint8_t *out, size_t cap) {
    size_t i = 0, nl = strlen(name);
    while (i < q.len) {
        size_t s = i, e, o = 0;
        while (i < q.len && q.ptr[i] != '&') i++;
        e = i++;
        if (e - s < nl || memcmp(q.ptr + s, name, nl) != 0 || (e - s > nl && q.ptr[s + nl] != '=')) continue;
        for (s += nl + (e - s > nl); s < e; s++) {
            int c = q.ptr[s];
            if (c == '%') {
                int hi = s + 2 < e ? gp__hexval(q.ptr[s + 1]) : -1, lo = hi >= 0 ? gp__hexval(q.ptr[s + 2]) : -1;
                if (lo < 0) return -1;
                c = hi * 16 + lo;
                s += 2;
            }
            if (o >= cap) return GP_ERR_TOO_BIG;
            out[o++] = (uint8_t)c;
        }
        return (long)o;
    }
    return -1;
}

GP_API void gp_ws_accept_key(const uint8_t *key, size_t len, char out[29]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";   /* RFC 6455 1.3 */
    uint8_t tmp[128], dig[20];
    if (len > sizeof tmp - 36) len = sizeof tmp - 36;
    memcpy(tmp, key, len);
    memcpy(tmp + len, guid, 36);
    gp_sha1(tmp, len + 36, dig);
    gp_base64_encode(dig, 20, out, 29);
}

/* ==== >>wscodec  RFC 6455 framing. Pure: no I/O, no allocation. Uses: >>util ==== */

GP_API int gp_ws_parse_header(const uint8_t *b, size_t len, gp_ws_frame *f) {
    size_t hl = 2;
    uint64_t pl;
    int i;
    if (len < 2) return 0;
    pl = b[1] & 0x7f;
    if (pl == 126) hl += 2;
    else if (pl == 127) hl += 8;
    if (b[1] & 0x80) hl += 4;
    if (len < hl) return 0;
    f->fin = b[0] >> 7;
    f->rsv = (b[0] >> 4) & 7;
    f->opcode = b[0] & 15;
    f->masked = b[1] >> 7;
    /* RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length" */
    if (pl == 126) {
        pl = gp__rd16(b + 2);
        if (pl < 126) return GP_ERR_PROTOCOL;
    } else if (pl == 127) {
        if (b[2] & 0x80) return GP_ERR_PROTOCOL;   /* RFC 6455 5.2: MSB must be 0 */
        pl = 0;
        for (i = 0; i < 8; i++) pl = (pl << 8) | b[2 + i];
        if (pl <= 0xffff) return GP_ERR_PROTOCOL;
    }
    f->payload_len = pl;
    if (f->masked) memcpy(f->mask, b + hl - 4, 4);
    else memset(f->mask, 0, 4);
    f->header_len = hl;
    return (int)hl;
}

GP_API int gp_ws_check_frame(const gp_ws_frame *f, int in_message) {
    if (f->rsv != 0) return 1002;                          /* 5.2: no extension negotiated */
    if ((f->opcode >= 3 && f->opcode <= 7) || f->opcode >= 11) return 1002;  /* reserved */
    if (!f->masked) return 1002;                           /* 5.1: clients must mask */
    if (f->opcode & 8) {                                   /* 5.5: control frames */
        if (!f->fin || f->payload_len > 125) return 1002;
        return 0;
    }
    if (f->opcode == GP_WS_CONT && !in_message) return 1002;   /* 5.4 */
    if (f->opcode != GP_WS_CONT && in_message) return 1002;
    return 0;
}

GP_API size_t gp_ws_encode_header(uint8_t *o, int fin, int opcode, uint64_t len, const uint8_t *mask) {
    size_t n = 2;
    int i;
    o[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 15));
    if (len < 126) o[1] = (uint8_t)len;
    else if (len <= 0xffff) { o[1] = 126; gp__be16(o + 2, (uint32_t)len); n = 4; }
    else {
        o[1] = 127;
        for (i = 0; i < 8; i++) o[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) { o[1] |= 0x80; memcpy(o + n, mask, 4); n += 4; }
    return n;
}

GP_API void gp_ws_mask(uint8_t *d, size_t len, const uint8_t mask[4], uint64_t offset) {
    size_t i = 0;
    uint8_t m[8];
    for (i = 0; i < 8; i++) m[i] = mask[(offset + i) & 3];
    i = 0;
    if (len >= 8) {
        uint64_t mw, w;
        memcpy(&mw, m, 8);
        for (; i + 8 <= len; i += 8) { memcpy(&w, d + i, 8); w ^= mw; memcpy(d + i, &w, 8); }
    }
    for (; i < len; i++) d[i] ^= m[i & 7];
}

GP_API int gp_ws_close_code_valid(int code) {
    /* 7.4.1 defined codes that may be sent, 7.4.2 3000-4999 for registration/private use */
    if (code >= 1000 && code <= 1003) return 1;
    if (code >= 1007 && code <= 1014) return 1;
    return code >= 3000 && code <= 4999;
}

/* ==== >>ws  a WebSocket connection: its state machine, frame reassembly, control frames,
   close handshake and send queue (on a >>stream). Uses: >>loop >>stream >>wscodec ==== */

#define GP__SLOT_BITS 20
#define GP__SLOT_MASK ((1u << GP__SLOT_BITS) - 1u)
#define GP__RBUF_SIZE 65536

enum { GP__WS_HANDSHAKE = 1, GP__WS_OPEN, GP__WS_CLOSING, GP__WS_DRAIN, GP__WS_LINGER, GP__WS_DEAD };
/* OVER: an open connection is over its soft send-queue limit; t_state then holds the time
   it went over or last wrote something (an open connection has no other use for it). */
enum { GP__WS_F_PINGED = 4, GP__WS_F_OPENED = 8, GP__WS_F_CLOSECB = 16, GP__WS_F_OVER = 32 };

typedef struct gp__rx {
    gp_buf hs;              /* handshake bytes */
    size_t hs_scan;
    uint8_t hdr[14];        /* partial frame header */
    size_t hlen;
    int in_frame;
    gp_ws_frame f;
    uint64_t left, foff;
    int msg_op;             /* opcode of the open message, 0 = none */
    uint32_t utf8;
    gp_buf msg;             /* reassembled data message */
    uint8_t ctrl[125];
    size_t ctrl_len;
} gp__rx;
typedef struct gp__conn {
    gp__stream st;          /* first: the dirty list holds &c->st (>>stream) */
    gp_ws_server *srv;
    uint32_t id;
    uint8_t state, flags;
    uint16_t code;          /* close code reported to on_close */
    uint32_t last_rx, t_state;  /* gp_loop_now() mod 2^32 ms; ages by wrapping subtraction */
    gp__rx *rx;
    void *user;
} gp__conn;

typedef struct gp__listener { int fd; } gp__listener;
typedef struct gp__slot { gp__conn *c; uint32_t gen, next_free; } gp__slot;
typedef struct gp__closed { uint32_t id; uint16_t code; uint8_t rlen; char reason[123]; } gp__closed;

struct gp_ws_server {
    gp_loop *loop;
    void *alloc_ctx;
    gp_ws_config cfg;
    char *origins;
    char *protocols;         /* cfg.protocols as NUL-separated names, an empty name ends it */
    size_t protocols_size;
    gp__slot *slots;         /* connection table; ids carry the slot's generation */
    size_t nslots, slots_cap;
    uint32_t free_head;      /* slot + 1 of the first free slot, 0 = none */
    gp__dirty dirty;         /* room for every slot */
    uint32_t *dead;
    size_t ndead, dead_cap;
    gp__closed *closed;        /* on_close calls waiting for the end of the batch */
    size_t nclosed, closed_cap;
    gp__listener *ls;
    size_t nls, ls_cap;
    uint8_t *rbuf;
    gp_msg *ping;
    uint64_t sweep_timer;
    int shutting_down, shutdown_code;
    void *tls;                 /* >>tls server context (certificate, key, RNG) or NULL */
    gp_ws_stats st;
};

#define GP__WS "ws"

static gp__conn *gp__conn_get(const gp_ws_server *srv, gp_conn_id id) {
    uint32_t slot = (id.v & GP__SLOT_MASK);
    gp__conn *c;
    if (srv == NULL || slot == 0 || slot > srv->nslots) return NULL;
    c = srv->slots[slot - 1].c;
    if (c == NULL || c->id != id.v || c->state == GP__WS_DEAD) return NULL;
    return c;
}

static gp_conn_id gp__cid_of(uint32_t v) { gp_conn_id id; id.v = v; return id; }
static gp_conn_id gp__cid(const gp__conn *c) { return gp__cid_of(c->id); }
GP_API uint32_t gp_conn_slot(gp_conn_id id) { return (id.v & GP__SLOT_MASK) - 1u; }
GP_API int gp_conn_peer(const gp_ws_server *srv, gp_conn_id id, char *out, size_t cap) {
    const gp__conn *c = gp__conn_get(srv, id);
    if (out == NULL || cap == 0) return GP_ERR_INVAL;
    out[0] = '\0';
    if (c == NULL) return GP_ERR_CLOSED;
    gp__net_addr(c->st.fd, 1, out, cap);
    return GP_OK;
}

GP_API gp_msg *gp_msg_new(gp_ws_server *srv, int opcode, const void *data, size_t len) {
    uint8_t hdr[14];
    size_t hl;
    gp_msg *m;
    if ((opcode & 8) && len > 125) return NULL;
    if (len > ((size_t)-1) - sizeof(gp_msg) - 14) return NULL;
    hl = gp_ws_encode_header(hdr, 1, opcode, len, NULL);
    if ((m = gp__msg_alloc(srv ? srv->alloc_ctx : NULL, hl + len)) == NULL) return NULL;
    memcpy(GP__MSG_DATA(m), hdr, hl);
    if (len) memcpy(GP__MSG_DATA(m) + hl, data, len);
    return m;
}

/* A message of raw bytes (HTTP responses). */
static gp_msg *gp__msg_raw(gp_ws_server *srv, const void *data, size_t len) {
    gp_msg *m = gp__msg_alloc(srv->alloc_ctx, len);
    if (m) memcpy(GP__MSG_DATA(m), data, len);
    return m;
}

/* on_close is queued and called at the end of the batch: no callback about a connection
   runs while the library (or a group broadcast) is iterating over connections. */
static void gp__conn_fire_close(gp__conn *c, int code, const uint8_t *reason, size_t rlen) {
    gp_ws_server *srv = c->srv;
    gp__closed *e;
    if ((c->flags & GP__WS_F_OPENED) == 0 || (c->flags & GP__WS_F_CLOSECB)) return;
    c->flags |= GP__WS_F_CLOSECB;
    c->code = (uint16_t)code;
    if (srv->cfg.on_close == NULL) return;
    if (gp__grow(srv->alloc_ctx, (void **)&srv->closed, &srv->closed_cap, srv->nclosed + 1,
                 sizeof *srv->closed) != GP_OK) {
        gp_bytes r;   /* no memory to defer: call now */
        r.ptr = reason;
        r.len = rlen;
        srv->cfg.on_close(srv, gp__cid(c), code, r, srv->cfg.user);
        return;
    }
    e = &srv->closed[srv->nclosed++];
    e->id = c->id;
    e->code = (uint16_t)code;
    e->rlen = (uint8_t)GP__MIN(rlen, sizeof e->reason);
    if (e->rlen) memcpy(e->reason, reason, e->rlen);
}

static void gp__rx_free(gp_ws_server *srv, gp__conn *c) {
    if (c->rx == NULL) return;
    gp_buf_free(&c->rx->hs);
    gp_buf_free(&c->rx->msg);
    gp__free(srv->alloc_ctx, c->rx, sizeof *c->rx);
    c->rx = NULL;
}

/* Tear down now: fd closed, callbacks done; the struct is freed at the end of the batch. */
static void gp__conn_destroy(gp__conn *c, int code, const char *reason) {
    gp_ws_server *srv = c->srv;
    if (c->state == GP__WS_DEAD) return;
    if (c->state == GP__WS_OPEN) srv->st.connections--;
    else if (c->state == GP__WS_HANDSHAKE) srv->st.handshaking--;
    else srv->st.closing--;
    c->state = GP__WS_DEAD;
    gp_loop_unwatch(srv->loop, c->st.fd);
    close(c->st.fd);
    c->st.fd = -1;
    gp__stream_release(srv->alloc_ctx, &c->st);
    gp__rx_free(srv, c);
    gp__tls_stream_free(srv->alloc_ctx, &c->st);
    if (gp__grow(srv->alloc_ctx, (void **)&srv->dead, &srv->dead_cap, srv->ndead + 1, sizeof *srv->dead) == GP_OK)
        srv->dead[srv->ndead++] = (c->id & GP__SLOT_MASK) - 1;
    gp__conn_fire_close(c, code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
}

static void gp__mark_dirty(gp__conn *c);
/* DRAIN marks the connection dirty: the end-of-batch flush then half-closes it even when
   nothing is left to send (our close was answered: RFC 6455 7.1.1, the server closes first). */
static void gp__set_state(gp__conn *c, int st) {
    gp_ws_server *srv = c->srv;
    if (c->state == GP__WS_OPEN) srv->st.connections--;
    else if (c->state == GP__WS_HANDSHAKE) srv->st.handshaking--;
    else srv->st.closing--;
    if (st == GP__WS_OPEN) srv->st.connections++;
    else if (st == GP__WS_HANDSHAKE) srv->st.handshaking++;
    else srv->st.closing++;
    c->state = (uint8_t)st;
    c->t_state = (uint32_t)gp_loop_now(srv->loop);
    if (st == GP__WS_DRAIN) gp__mark_dirty(c);
}

static void gp__mark_dirty(gp__conn *c) { gp__stream_mark(&c->srv->dirty, &c->st); }
/* The slow-reader rule (Redis's client-output-buffer-limit, with "for a while" measured as
   time without progress): over the hard limit a connection is dropped at once; over the soft
   one (max_send_queue) it is dropped once it has written nothing for slow_timeout_ms, so a
   reader that keeps reading is kept through any burst the hard limit allows. */
static void gp__slow_drop(gp__conn *c, const char *why, unsigned long limit) {
    gp_ws_server *srv = c->srv;
    srv->st.slow_closed++;
    GP__LOG(srv->loop, GP_LOG_INFO, GP__WS, "fd %d: send queue %lu bytes, %s %lu, dropping slow reader",
            c->st.fd, (unsigned long)c->st.qbytes, why, limit);
    gp__conn_destroy(c, 1008, "send queue limit exceeded");
}

/* 1 when c was dropped. The time a connection went over its soft limit, or last wrote, is
   kept in t_state (GP__WS_F_OVER). */
static int gp__slow_check(gp__conn *c, size_t queued) {
    gp_ws_server *srv = c->srv;
    uint32_t now;
    if (queued <= srv->cfg.max_send_queue) { c->flags &= (uint8_t)~GP__WS_F_OVER; return 0; }
    if (queued > srv->cfg.max_send_queue_hard) {
        gp__slow_drop(c, "over the hard limit", (unsigned long)srv->cfg.max_send_queue_hard);
        return 1;
    }
    now = (uint32_t)gp_loop_now(srv->loop);
    if (!(c->flags & GP__WS_F_OVER)) {
        c->flags |= GP__WS_F_OVER;
        c->t_state = now;
    } else if ((uint32_t)(now - c->t_state) >= srv->cfg.slow_timeout_ms) {
        gp__slow_drop(c, "nothing written for slow_timeout_ms over the soft limit", (unsigned long)srv->cfg.max_send_queue);
        return 1;
    }
    return 0;
}

/* Queue a reference. force: ignore the send-queue limits (close frames, pongs, HTTP replies). */
static int gp__q_push(gp__conn *c, gp_msg *m, int force) {
    gp_ws_server *srv = c->srv;
    if (c->st.q.count > 0 && !force && c->state == GP__WS_OPEN && gp__slow_check(c, c->st.qbytes + m->len))
        return GP_ERR_FULL;
    if (gp__stream_push(srv->alloc_ctx, &c->st, m) != GP_OK) {
        gp__conn_destroy(c, 1011, "out of memory");
        return GP_ERR_NOMEM;
    }
    gp__mark_dirty(c);
    return GP_OK;
}

static int gp__send_frame(gp__conn *c, int opcode, const void *data, size_t len, int force) {
    gp_msg *m = gp_msg_new(c->srv, opcode, data, len);
    int rc;
    if (m == NULL) { gp__conn_destroy(c, 1011, "out of memory"); return GP_ERR_NOMEM; }
    rc = gp__q_push(c, m, force);
    gp_msg_unref(m);
    return rc;
}

static void gp__send_close(gp__conn *c, int code, const void *reason, size_t rlen) {
    uint8_t p[125];
    size_t n = 0;
    if (code) {
        gp__be16(p, (uint32_t)code);
        n = 2 + GP__MIN(rlen, (size_t)123);
        if (n > 2) memcpy(p + 2, reason, n - 2);
    }
    gp__send_frame(c, GP_WS_CLOSE, p, n, 1);
}

/* Protocol failure (RFC 6455 7.1.7): send close with code, then close TCP after it flushes. */
static void gp__conn_fail(gp__conn *c, int code, const char *why) {
    if (c->state != GP__WS_OPEN && c->state != GP__WS_CLOSING) return;
    GP__LOG(c->srv->loop, GP_LOG_DEBUG, GP__WS, "fd %d: closing %d: %s", c->st.fd, code, why);
    if (c->state == GP__WS_OPEN) gp__send_close(c, code, why, strlen(why));
    if (c->state == GP__WS_DEAD) return;
    gp__set_state(c, GP__WS_DRAIN);
    gp__conn_fire_close(c, code, (const uint8_t *)why, strlen(why));
}

static void gp__deliver(gp__conn *c, int opcode, const uint8_t *p, size_t n) {
    gp_ws_server *srv = c->srv;
    gp_bytes b;
    srv->st.msgs_in++;
    if (c->state != GP__WS_OPEN || srv->cfg.on_message == NULL) return;
    b.ptr = p;
    b.len = n;
    srv->cfg.on_message(srv, gp__cid(c), opcode, b, srv->cfg.user);
}

static void gp__control(gp__conn *c, int op, const uint8_t *p, size_t n) {
    if (op == GP_WS_PING) {
        if (c->state == GP__WS_OPEN) gp__send_frame(c, GP_WS_PONG, p, n, 1);   /* 5.5.3 */
        return;
    }
    if (op != GP_WS_CLOSE) return;   /* pong: activity only */
    if (n == 1) { gp__conn_fail(c, 1002, "close frame with 1-byte payload"); return; }
    if (n >= 2) {
        int code = (int)gp__rd16(p);
        if (!gp_ws_close_code_valid(code)) { gp__conn_fail(c, 1002, "invalid close code"); return; }
        if (gp_utf8_feed(GP_UTF8_ACCEPT, p + 2, n - 2) != GP_UTF8_ACCEPT) {
            gp__conn_fail(c, 1007, "close reason is not UTF-8");
            return;
        }
    }
    if (c->state == GP__WS_OPEN) {
        /* 5.5.1: answer with the same code; the server then closes TCP first (7.1.1) */
        int code = n >= 2 ? (int)gp__rd16(p) : 0;
        gp__send_close(c, code, NULL, 0);
        if (c->state == GP__WS_DEAD) return;
        gp__set_state(c, GP__WS_DRAIN);
        gp__conn_fire_close(c, code ? code : 1005, n > 2 ? p + 2 : NULL, n > 2 ? n - 2 : 0);
    } else if (c->state == GP__WS_CLOSING) {
        gp__set_state(c, GP__WS_DRAIN);   /* our close was answered */
    }
}

static gp__rx *gp__rx_get(gp__conn *c) {
    if (c->rx == NULL) {
        c->rx = (gp__rx *)gp__calloc(c->srv->alloc_ctx, sizeof *c->rx);
        if (c->rx == NULL) { gp__conn_destroy(c, 1011, "out of memory"); return NULL; }
        c->rx->hs.alloc_ctx = c->rx->msg.alloc_ctx = c->srv->alloc_ctx;
    }
    return c->rx;
}

static void gp__rx_maybe_free(gp__conn *c) {
    gp__rx *rx = c->rx;
    if (rx && rx->hlen == 0 && !rx->in_frame && rx->msg_op == 0 && rx->hs.cap == 0) gp__rx_free(c->srv, c);
}

/* Feed received bytes (writable: unmasked in place) to the frame state machine. */
static void gp__ws_feed(gp__conn *c, uint8_t *p, size_t n) {
    gp_ws_server *srv = c->srv;
    while (n > 0 && (c->state == GP__WS_OPEN || c->state == GP__WS_CLOSING)) {
        gp__rx *rx = c->rx;
        if (rx == NULL || !rx->in_frame) {
            gp_ws_frame f;
            int rc, code;
            if (rx && rx->hlen > 0) {
                size_t take = GP__MIN(n, sizeof rx->hdr - rx->hlen), used;
                memcpy(rx->hdr + rx->hlen, p, take);
                rc = gp_ws_parse_header(rx->hdr, rx->hlen + take, &f);
                if (rc == 0) { rx->hlen += take; p += take; n -= take; continue; }
                if (rc < 0) { gp__conn_fail(c, 1002, "bad frame length"); return; }
                used = (size_t)rc - rx->hlen;
                p += used; n -= used;
                rx->hlen = 0;
            } else {
                rc = gp_ws_parse_header(p, n, &f);
                if (rc == 0) {
                    if ((rx = gp__rx_get(c)) == NULL) return;
                    memcpy(rx->hdr, p, n);
                    rx->hlen = n;
                    return;
                }
                if (rc < 0) { gp__conn_fail(c, 1002, "bad frame length"); return; }
                p += rc; n -= (size_t)rc;
            }
            code = gp_ws_check_frame(&f, rx != NULL && rx->msg_op != 0);
            if (code) { gp__conn_fail(c, code, "protocol error"); return; }
            if (!(f.opcode & 8) &&
                f.payload_len > srv->cfg.max_message - (rx ? (uint64_t)rx->msg.len : 0u)) {
                gp__conn_fail(c, 1009, "message too big");
                return;
            }
            if (f.payload_len <= n && (f.opcode & 8)) {          /* whole control frame here */
                size_t len = (size_t)f.payload_len;
                gp_ws_mask(p, len, f.mask, 0);
                gp__control(c, f.opcode, p, len);
                p += len; n -= len;
                continue;
            }
            if (f.payload_len <= n && f.fin && f.opcode != GP_WS_CONT) {   /* whole message here */
                size_t len = (size_t)f.payload_len;
                gp_ws_mask(p, len, f.mask, 0);
                if (f.opcode == GP_WS_TEXT && gp_utf8_feed(GP_UTF8_ACCEPT, p, len) != GP_UTF8_ACCEPT) {
                    gp__conn_fail(c, 1007, "invalid UTF-8");
                    return;
                }
                gp__deliver(c, f.opcode, p, len);
                p += len; n -= len;
                continue;
            }
            if ((rx = gp__rx_get(c)) == NULL) return;
            rx->f = f;
            rx->in_frame = 1;
            rx->left = f.payload_len;
            rx->foff = 0;
            if (f.opcode & 8) rx->ctrl_len = 0;
            else if (f.opcode != GP_WS_CONT) { rx->msg_op = f.opcode; rx->utf8 = GP_UTF8_ACCEPT; rx->msg.len = 0; }
        }
        {
            size_t take = (size_t)GP__MIN((uint64_t)n, rx->left);
            gp_ws_mask(p, take, rx->f.mask, rx->foff);
            if (rx->f.opcode & 8) {
                memcpy(rx->ctrl + rx->ctrl_len, p, take);
                rx->ctrl_len += take;
            } else {
                if (rx->msg_op == GP_WS_TEXT) {
                    rx->utf8 = gp_utf8_feed(rx->utf8, p, take);
                    if (rx->utf8 == GP_UTF8_REJECT) { gp__conn_fail(c, 1007, "invalid UTF-8"); return; }
                }
                if (gp_buf_append(&rx->msg, p, take) != GP_OK) { gp__conn_fail(c, 1011, "out of memory"); return; }
            }
            p += take; n -= take;
            rx->left -= take;
            rx->foff += take;
            if (rx->left > 0) continue;
            rx->in_frame = 0;
            if (rx->f.opcode & 8) {
                gp__control(c, rx->f.opcode, rx->ctrl, rx->ctrl_len);
            } else if (rx->f.fin) {
                int op = rx->msg_op;
                if (op == GP_WS_TEXT && rx->utf8 != GP_UTF8_ACCEPT) {
                    gp__conn_fail(c, 1007, "truncated UTF-8");
                    return;
                }
                rx->msg_op = 0;
                gp__deliver(c, op, rx->msg.data, rx->msg.len);
                if (c->rx) {
                    c->rx->msg.len = 0;
                    if (c->rx->msg.cap > 65536) gp_buf_free(&c->rx->msg);
                }
            }
            if (c->rx) gp__rx_maybe_free(c);
        }
    }
}

/* ==== >>upgrade  the HTTP side of a connection: the upgrade handshake (RFC 6455 4.2) and
   plain HTTP replies (errors, on_http pages). Uses: >>http >>ws ==== */

static void gp__http_reply(gp__conn *c, int status, const char *extra, const char *ctype,
                           const void *body, size_t blen) {
    gp_buf b;
    const char *text;
    gp_msg *m;
    if (c->st.tls && !(c->st.flags & GP__STREAM_TLSUP)) {   /* no TLS session to answer on */
        gp__conn_destroy(c, 1006, "TLS handshake not finished");
        return;
    }
    memset(&b, 0, sizeof b);
    b.alloc_ctx = c->srv->alloc_ctx;
    switch (status) {
    case 200: text = "OK"; break;
    case 400: text = "Bad Request"; break;
    case 403: text = "Forbidden"; break;
    case 404: text = "Not Found"; break;
    case 408: text = "Request Timeout"; break;
    case 426: text = "Upgrade Required"; break;
    case 431: text = "Request Header Fields Too Large"; break;
    case 500: text = "Internal Server Error"; break;
    case 503: text = "Service Unavailable"; break;
    default: text = "Status"; break;
    }
    if (body == NULL) { body = text; blen = strlen(text); }
    if (gp__buf_printf(&b, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: %s\r\n"
                           "Content-Length: %lu\r\n%s\r\n", status, text,
                       ctype ? ctype : "text/plain; charset=utf-8", (unsigned long)blen,
                       extra ? extra : "") != GP_OK ||
        gp_buf_append(&b, body, blen) != GP_OK ||
        (m = gp__msg_raw(c->srv, b.data, b.len)) == NULL) {
        gp_buf_free(&b);
        gp__conn_destroy(c, 1011, "out of memory");
        return;
    }
    gp_buf_free(&b);
    gp__q_push(c, m, 1);
    gp_msg_unref(m);
    if (c->state != GP__WS_DEAD) gp__set_state(c, GP__WS_DRAIN);
}

static int gp__origin_ok(const gp_ws_server *srv, const gp_bytes *origin) {
    gp_bytes list;
    if (srv->origins == NULL || origin == NULL) return 1;
    list.ptr = (const uint8_t *)srv->origins;
    list.len = strlen(srv->origins);
    {
        size_t i = 0;
        while (i < list.len) {
            size_t s = i;
            gp_bytes t;
            while (i < list.len && list.ptr[i] != ',') i++;
            t = gp__trim(list.ptr + s, i - s);
            if (t.len == origin->len && memcmp(t.ptr, origin->ptr, t.len) == 0) return 1;
            i++;
        }
    }
    return 0;
}

/* Token in any of the header lines called name (RFC 7230 3.2.2: repeated lines are one list). */
static int gp__req_has_token(const gp_http_request *req, const char *name, const char *token) {
    size_t i;
    for (i = 0; i < req->num_headers; i++)
        if (gp__ieq(req->headers[i].name.ptr, req->headers[i].name.len, name) &&
            gp_http_has_token(req->headers[i].value, token))
            return 1;
    return 0;
}

/* cfg.protocols "a, b" -> "a\0b\0\0" (names trimmed, empty entries skipped). */
static int gp__ws_protocols_init(gp_ws_server *srv, const char *list) {
    size_t n = strlen(list), i = 0, o = 0;
    srv->protocols = (char *)gp__malloc(srv->alloc_ctx, n + 2);
    if (srv->protocols == NULL) return GP_ERR_NOMEM;
    srv->protocols_size = n + 2;
    while (i <= n) {
        size_t st = i;
        gp_bytes t;
        while (i < n && list[i] != ',') i++;
        t = gp__trim((const uint8_t *)list + st, i - st);
        if (t.len > 0) {
            size_t k;
            for (k = 0; k < t.len; k++) if (!gp__tchar(t.ptr[k])) return GP_ERR_INVAL;   /* RFC 6455 4.1 */
            memcpy(srv->protocols + o, t.ptr, t.len);
            o += t.len;
            srv->protocols[o++] = '\0';
        }
        i++;
    }
    srv->protocols[o] = '\0';
    return GP_OK;
}

/* name offered in any Sec-WebSocket-Protocol line; compared exactly (RFC 7936: subprotocol
   names match case-sensitively, a client fails a reply that differs in case) */
static int gp__req_offers_protocol(const gp_http_request *req, const char *name) {
    size_t i, n = strlen(name);
    for (i = 0; i < req->num_headers; i++) {
        gp_bytes v = req->headers[i].value;
        size_t k = 0;
        if (!gp__ieq(req->headers[i].name.ptr, req->headers[i].name.len, "Sec-WebSocket-Protocol")) continue;
        while (k < v.len) {
            size_t st = k;
            gp_bytes t;
            while (k < v.len && v.ptr[k] != ',') k++;
            t = gp__trim(v.ptr + st, k - st);
            if (t.len == n && memcmp(t.ptr, name, n) == 0) return 1;
            k++;
        }
    }
    return 0;
}

/* RFC 6455 4.2.2 /subprotocol/: the first of the server's protocols that the client
   offered (in any of its Sec-WebSocket-Protocol lines), or NULL: then the response names
   none, and a client that insists on one fails the connection itself (4.1). */
static const char *gp__ws_pick_protocol(const gp_ws_server *srv, const gp_http_request *req) {
    const char *p;
    if (srv->protocols == NULL) return NULL;
    for (p = srv->protocols; *p; p += strlen(p) + 1)
        if (gp__req_offers_protocol(req, p)) return p;
    return NULL;
}

/* A complete request head: answer it. Returns 1 when the connection is now OPEN. */
static int gp__handshake(gp__conn *c, const gp_http_request *req) {
    gp_ws_server *srv = c->srv;
    const gp_bytes *up = gp_http_header_get(req, "Upgrade");
    const gp_bytes *ver = gp_http_header_get(req, "Sec-WebSocket-Version");
    const gp_bytes *key = gp_http_header_get(req, "Sec-WebSocket-Key");
    uint8_t raw[32];
    char acc[29];
    gp_ws_accept a;
    gp_buf b;
    gp_msg *m;
    int rc;
    if (up == NULL) {   /* plain HTTP */
        gp_http_response res;
        memset(&res, 0, sizeof res);
        if (srv->cfg.on_http) srv->cfg.on_http(srv, req, &res, srv->cfg.user);
        if (c->state != GP__WS_HANDSHAKE) return 0;
        if (res.status == 0)
            gp__http_reply(c, 426, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n", NULL, NULL, 0);
        else
            gp__http_reply(c, res.status, res.headers, res.content_type, res.body, res.body_len);
        return 0;
    }
    if (!gp__ieq(req->method.ptr, req->method.len, "GET") || req->minor_version < 1 ||
        !gp__req_has_token(req, "Upgrade", "websocket") || !gp__req_has_token(req, "Connection", "upgrade")) {
        gp__http_reply(c, 400, NULL, NULL, NULL, 0);
        return 0;
    }
    if (ver == NULL || ver->len != 2 || memcmp(ver->ptr, "13", 2) != 0) {   /* 4.4 */
        gp__http_reply(c, 426, "Sec-WebSocket-Version: 13\r\n", NULL, NULL, 0);
        return 0;
    }
    if (key == NULL || gp_base64_decode((const char *)key->ptr, key->len, raw, sizeof raw) != 16) {
        gp__http_reply(c, 400, NULL, NULL, NULL, 0);
        return 0;
    }
    if (!gp__origin_ok(srv, gp_http_header_get(req, "Origin"))) {
        srv->st.refused++;
        gp__http_reply(c, 403, NULL, NULL, NULL, 0);
        return 0;
    }
    memset(&a, 0, sizeof a);
    a.protocol = gp__ws_pick_protocol(srv, req);
    if (srv->cfg.on_accept) {
        rc = srv->cfg.on_accept(srv, gp__cid(c), req, &a, srv->cfg.user);
        if (c->state != GP__WS_HANDSHAKE) return 0;
        if (rc != 0) {
            srv->st.refused++;
            gp__http_reply(c, rc >= 400 && rc <= 599 ? rc : 403, NULL, NULL, NULL, 0);
            return 0;
        }
    }
    gp_ws_accept_key(key->ptr, key->len, acc);
    memset(&b, 0, sizeof b);
    b.alloc_ctx = srv->alloc_ctx;
    rc = gp__buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", acc);
    if (rc == GP_OK && a.protocol && gp__req_offers_protocol(req, a.protocol))
        rc = gp__buf_printf(&b, "Sec-WebSocket-Protocol: %s\r\n", a.protocol);
    if (rc == GP_OK) rc = gp_buf_append(&b, "\r\n", 2);
    m = rc == GP_OK ? gp__msg_raw(srv, b.data, b.len) : NULL;
    gp_buf_free(&b);
    if (m == NULL) { gp__conn_destroy(c, 1011, "out of memory"); return 0; }
    gp__q_push(c, m, 1);
    gp_msg_unref(m);
    if (c->state != GP__WS_HANDSHAKE) return 0;
    c->user = a.conn_user;
    gp__set_state(c, GP__WS_OPEN);
    c->last_rx = (uint32_t)gp_loop_now(srv->loop);
    c->flags |= GP__WS_F_OPENED;
    if (srv->cfg.on_open) srv->cfg.on_open(srv, gp__cid(c), srv->cfg.user);
    if (srv->shutting_down && c->state == GP__WS_OPEN) gp_conn_close(srv, gp__cid(c), srv->shutdown_code, "server shutting down");
    return c->state == GP__WS_OPEN;
}

static void gp__hs_feed(gp__conn *c, const uint8_t *p, size_t n) {
    gp_ws_server *srv = c->srv;
    gp__rx *rx = gp__rx_get(c);
    gp_http_request req;
    size_t head, rest;
    int rc;
    if (rx == NULL) return;
    if (gp_buf_append(&rx->hs, p, n) != GP_OK) { gp__conn_destroy(c, 1011, "out of memory"); return; }
    rc = gp_http_parse_head(rx->hs.data, rx->hs.len, rx->hs_scan, &req);   /* new bytes only */
    rx->hs_scan = rx->hs.len;
    if (rc == 0) {
        if (rx->hs.len > srv->cfg.max_handshake) gp__http_reply(c, 431, NULL, NULL, NULL, 0);
        return;
    }
    if (rc < 0) {
        gp__http_reply(c, rc == GP_ERR_TOO_BIG || rx->hs.len > srv->cfg.max_handshake ? 431 : 400, NULL, NULL, NULL, 0);
        return;
    }
    head = (size_t)rc;
    if (head > srv->cfg.max_handshake) { gp__http_reply(c, 431, NULL, NULL, NULL, 0); return; }
    if (!gp__handshake(c, &req)) return;
    /* frames that came in the same segment as the request */
    rest = c->rx->hs.len - head;
    if (rest > 0) memcpy(srv->rbuf, c->rx->hs.data + head, rest);
    gp_buf_free(&c->rx->hs);
    c->rx->hs_scan = 0;
    gp__rx_maybe_free(c);
    if (rest > 0) gp__ws_feed(c, srv->rbuf, rest);
}

/* ==== >>wsserver  the WebSocket server: accept, socket I/O, the end-of-batch flush, the
   timeout sweep and the public gp_ws_ / gp_conn_ API. Uses: >>ws >>upgrade >>stream ==== */

static void gp__conn_flush(gp__conn *c);
static void gp__conn_io(gp_loop *loop, int fd, int ev, void *user) {
    gp__conn *c = (gp__conn *)user;
    gp_ws_server *srv = c->srv;
    int rounds = 0;
    (void)loop; (void)fd;
    if ((ev & GP_LOOP_WRITE) && c->state != GP__WS_DEAD) gp__conn_flush(c);
    if (!(ev & (GP_LOOP_READ | GP_LOOP_ERROR)) && !(c->st.tls && c->state == GP__WS_HANDSHAKE)) return;
    while (c->state != GP__WS_DEAD && (rounds++ < 4 || gp__stream_pending(&c->st))) {
        ssize_t r = gp__stream_recv(srv->loop, &c->st, srv->rbuf, GP__RBUF_SIZE);
        if (r > 0) {
            srv->st.bytes_in += (uint64_t)r;
            c->last_rx = (uint32_t)gp_loop_now(srv->loop);
            c->flags &= (uint8_t)~GP__WS_F_PINGED;
            if (c->state == GP__WS_HANDSHAKE) gp__hs_feed(c, srv->rbuf, (size_t)r);
            else if (c->state == GP__WS_OPEN || c->state == GP__WS_CLOSING) gp__ws_feed(c, srv->rbuf, (size_t)r);
            /* DRAIN / LINGER: input is discarded */
            if (r < GP__RBUF_SIZE && !gp__stream_pending(&c->st)) break;
        } else if (r == 0) {
            gp__conn_destroy(c, 1006, "connection closed by peer");
            break;
        } else {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) gp__conn_destroy(c, 1006, strerror(errno));
            break;
        }
    }
}

static void gp__conn_flush(gp__conn *c) {
    size_t before = c->st.qbytes;
    int rc = gp__stream_flush(c->srv->loop, &c->st, &c->srv->st.bytes_out);
    if (rc == GP_ERR_IO) { gp__conn_destroy(c, 1006, strerror(errno)); return; }
    if ((c->flags & GP__WS_F_OVER) && c->state == GP__WS_OPEN) {   /* progress restarts the clock */
        if (c->st.qbytes <= c->srv->cfg.max_send_queue) c->flags &= (uint8_t)~GP__WS_F_OVER;
        else if (c->st.qbytes < before) c->t_state = (uint32_t)gp_loop_now(c->srv->loop);
    }
    if (rc == GP_OK && c->state == GP__WS_DRAIN) {   /* everything we had to say is out: half-close, then linger */
        gp__stream_shutdown(&c->st);
        gp__set_state(c, GP__WS_LINGER);
    }
}

/* After each batch: flush every dirty connection (one sendmsg per connection), free the dead. */
static void gp__ws_hook(gp_loop *loop, void *user) {
    gp_ws_server *srv = (gp_ws_server *)user;
    size_t i;
    (void)loop;
    for (i = 0; i < srv->nclosed; i++) {   /* may grow while we call */
        gp__closed e = srv->closed[i];
        gp_bytes r;
        r.ptr = (const uint8_t *)e.reason;
        r.len = e.rlen;
        srv->cfg.on_close(srv, gp__cid_of(e.id), e.code, r, srv->cfg.user);
    }
    srv->nclosed = 0;
    for (i = 0; i < srv->dirty.n; i++) {   /* a flush never marks another connection */
        gp__conn *c = (gp__conn *)(void *)srv->dirty.v[i];
        c->st.flags &= (uint8_t)~GP__STREAM_DIRTY;
        if (c->state != GP__WS_DEAD) gp__conn_flush(c);
    }
    srv->dirty.n = 0;
    for (i = 0; i < srv->ndead; i++) {
        uint32_t slot = srv->dead[i];
        gp__conn *c = srv->slots[slot].c;
        if (c == NULL || c->state != GP__WS_DEAD || (c->st.flags & GP__STREAM_DIRTY)) continue;
        gp__free(srv->alloc_ctx, c, sizeof *c);
        srv->slots[slot].c = NULL;
        srv->slots[slot].gen++;
        srv->slots[slot].next_free = srv->free_head;
        srv->free_head = slot + 1;
    }
    srv->ndead = 0;
}

static void gp__accept(gp_loop *loop, int lfd, int ev, void *user) {
    gp_ws_server *srv = (gp_ws_server *)user;
    int budget = 512;
    (void)ev;
    while (budget-- > 0) {
        int fd, one = 1;
        uint32_t slot;
        gp__conn *c;
#if GP__HAS_ACCEPT4
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        fd = accept(lfd, NULL, NULL);
        if (fd >= 0 && gp__set_nonblock(fd) != GP_OK) { close(fd); continue; }
#endif
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                GP__LOG(loop, GP_LOG_WARN, GP__WS, "accept: %s", strerror(errno));
            return;
        }
        srv->st.accepted++;
        if (srv->st.connections + srv->st.handshaking >= srv->cfg.max_conns || srv->shutting_down) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                                       "Content-Length: 0\r\n\r\n";
            srv->st.refused++;
            (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (srv->free_head == 0) {
            if (srv->nslots + 1 >= GP__SLOT_MASK ||
                gp__grow(srv->alloc_ctx, (void **)&srv->slots, &srv->slots_cap, srv->nslots + 1,
                         sizeof *srv->slots) != GP_OK) {
                close(fd);
                continue;
            }
            if (gp__dirty_reserve(srv->alloc_ctx, &srv->dirty, srv->nslots + 1) != GP_OK) {
                close(fd);
                continue;
            }
            memset(&srv->slots[srv->nslots], 0, sizeof srv->slots[0]);
            srv->free_head = (uint32_t)++srv->nslots;
        }
        c = (gp__conn *)gp__calloc(srv->alloc_ctx, sizeof *c);
        if (c == NULL) { close(fd); continue; }
        slot = srv->free_head - 1;
        srv->free_head = srv->slots[slot].next_free;
        gp__stream_init(&c->st, fd);
        c->srv = srv;
        c->id = ((srv->slots[slot].gen & 0xfffu) << GP__SLOT_BITS) | (slot + 1);
        c->state = GP__WS_HANDSHAKE;
        c->t_state = c->last_rx = (uint32_t)gp_loop_now(loop);
        srv->st.handshaking++;
        srv->slots[slot].c = c;
        if (srv->tls && gp__tls_stream_new(srv->tls, &c->st) != GP_OK) {
            gp__conn_destroy(c, 1011, "out of memory");
            continue;
        }
        if (gp_loop_watch(loop, fd, GP_LOOP_READ, gp__conn_io, c) != GP_OK) {
            gp__conn_destroy(c, 1011, "out of memory");
            continue;
        }
    }
}

static void gp__ws_sweep(gp_loop *loop, void *user) {
    gp_ws_server *srv = (gp_ws_server *)user;
    uint64_t pi = srv->cfg.ping_interval_ms;
    uint32_t now = (uint32_t)gp_loop_now(loop);   /* ages fit: every timeout is < 2^31 ms */
    size_t i;
    for (i = 0; i < srv->nslots; i++) {
        gp__conn *c = srv->slots[i].c;
        if (c == NULL) continue;
        switch (c->state) {
        case GP__WS_HANDSHAKE:
            if ((uint32_t)(now - c->t_state) >= srv->cfg.handshake_timeout_ms) gp__http_reply(c, 408, NULL, NULL, NULL, 0);
            break;
        case GP__WS_OPEN:
            if ((c->flags & GP__WS_F_OVER) && gp__slow_check(c, c->st.qbytes)) break;
            if (pi == GP_WS_NO_PING) break;
            if ((uint32_t)(now - c->last_rx) >= 2 * pi) gp__conn_destroy(c, 1006, "no answer to ping");
            else if ((uint32_t)(now - c->last_rx) >= pi && !(c->flags & GP__WS_F_PINGED)) {
                c->flags |= GP__WS_F_PINGED;
                gp__q_push(c, srv->ping, 1);
            }
            break;
        case GP__WS_CLOSING: case GP__WS_DRAIN: case GP__WS_LINGER:
            if ((uint32_t)(now - c->t_state) >= srv->cfg.close_timeout_ms) gp__conn_destroy(c, 1006, "close timeout");
            break;
        default: break;
        }
        if (c->state != GP__WS_DEAD) gp__stream_trim(srv->alloc_ctx, &c->st);   /* idle: give back */
    }
}

static void gp__ws_defaults(gp_ws_config *cfg) {
    GP__DEF(cfg->max_conns, 10000);
    GP__DEF(cfg->max_handshake, 8192);
    GP__DEF(cfg->handshake_timeout_ms, 10000);
    GP__DEF(cfg->max_message, 1u << 20);
    GP__DEF(cfg->max_send_queue, 4u << 20);
    GP__DEF(cfg->max_send_queue_hard, GP__MAX(cfg->max_send_queue, (size_t)64 << 20));
    GP__DEF(cfg->slow_timeout_ms, 10000);
    GP__DEF(cfg->ping_interval_ms, 30000);
    GP__DEF(cfg->close_timeout_ms, 3000);
}

GP_API int gp_ws_create(gp_loop *loop, const gp_ws_config *cfg, gp_ws_server **out) {
    gp_ws_server *srv;
    uint64_t tick;
    if (loop == NULL || out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    srv = (gp_ws_server *)gp__calloc(loop->alloc_ctx, sizeof *srv);
    if (srv == NULL) return GP_ERR_NOMEM;
    srv->loop = loop;
    srv->alloc_ctx = loop->alloc_ctx;
    if (cfg) srv->cfg = *cfg;
    gp__ws_defaults(&srv->cfg);
    /* connection ages are kept in 32 bits: every timeout is cut to 2^30 ms (12 days) */
    srv->cfg.handshake_timeout_ms = GP__MIN(srv->cfg.handshake_timeout_ms, (uint64_t)1 << 30);
    srv->cfg.close_timeout_ms = GP__MIN(srv->cfg.close_timeout_ms, (uint64_t)1 << 30);
    srv->cfg.slow_timeout_ms = GP__MIN(srv->cfg.slow_timeout_ms, (uint64_t)1 << 30);
    srv->cfg.max_send_queue_hard = GP__MAX(srv->cfg.max_send_queue_hard, srv->cfg.max_send_queue);
    if (srv->cfg.ping_interval_ms != GP_WS_NO_PING)
        srv->cfg.ping_interval_ms = GP__MIN(srv->cfg.ping_interval_ms, (uint64_t)1 << 30);
    srv->cfg.origins = srv->cfg.protocols = NULL;
    srv->cfg.tls_cert = srv->cfg.tls_key = NULL;
    if (cfg && (cfg->tls_cert || cfg->tls_key)) {
        char why[128] = "tls_cert and tls_key go together";
        int rc = GP_ERR_INVAL;
        if (cfg->tls_cert && cfg->tls_key) rc = gp__tls_new(srv->alloc_ctx, cfg->tls_cert, cfg->tls_key, &srv->tls, why, sizeof why);
        if (rc != GP_OK) {
            GP__LOG(loop, GP_LOG_ERROR, GP__WS, "TLS setup (%s, %s): %s", cfg->tls_cert ? cfg->tls_cert : "-",
                    cfg->tls_key ? cfg->tls_key : "-", why);
            gp_ws_destroy(srv);
            return rc;
        }
    }
    if (cfg && cfg->origins) {
        size_t n = strlen(cfg->origins) + 1;
        srv->origins = (char *)gp__malloc(srv->alloc_ctx, n);
        if (srv->origins == NULL) { gp_ws_destroy(srv); return GP_ERR_NOMEM; }
        memcpy(srv->origins, cfg->origins, n);
    }
    if (cfg && cfg->protocols) {
        int rc = gp__ws_protocols_init(srv, cfg->protocols);
        if (rc != GP_OK) { gp_ws_destroy(srv); return rc; }
    }
    srv->rbuf = (uint8_t *)gp__malloc(srv->alloc_ctx, GP__RBUF_SIZE);
    srv->ping = gp_msg_new(srv, GP_WS_PING, NULL, 0);
    if (srv->rbuf == NULL || srv->ping == NULL || gp_loop_hook_add(loop, gp__ws_hook, srv) != GP_OK) {
        gp_ws_destroy(srv);
        return GP_ERR_NOMEM;
    }
    tick = GP__MIN(GP__MIN((uint64_t)1000, srv->cfg.handshake_timeout_ms / 4), srv->cfg.close_timeout_ms / 4);
    if (srv->cfg.ping_interval_ms != GP_WS_NO_PING) tick = GP__MIN(tick, srv->cfg.ping_interval_ms / 4);
    tick = GP__MIN(tick, srv->cfg.slow_timeout_ms / 4);
    srv->sweep_timer = gp_loop_timer_start(loop, GP__MAX(tick, 10), GP__MAX(tick, 10), gp__ws_sweep, srv);
    if (srv->sweep_timer == 0) { gp_ws_destroy(srv); return GP_ERR_NOMEM; }
    *out = srv;
    return GP_OK;
}

GP_API void gp_ws_destroy(gp_ws_server *srv) {
    size_t i;
    if (srv == NULL) return;
    for (i = 0; i < srv->nls; i++) { gp_loop_unwatch(srv->loop, srv->ls[i].fd); close(srv->ls[i].fd); }
    for (i = 0; i < srv->nslots; i++) {
        gp__conn *c = srv->slots[i].c;
        if (c == NULL) continue;
        if (c->state != GP__WS_DEAD) {
            gp_loop_unwatch(srv->loop, c->st.fd);
            close(c->st.fd);
            gp__stream_release(srv->alloc_ctx, &c->st);
            gp__rx_free(srv, c);
            gp__tls_stream_free(srv->alloc_ctx, &c->st);
        }
        gp__free(srv->alloc_ctx, c, sizeof *c);
    }
    gp_loop_hook_remove(srv->loop, gp__ws_hook, srv);
    gp_loop_timer_stop(srv->loop, srv->sweep_timer);
    gp_msg_unref(srv->ping);
    gp__tls_free(srv->tls);
    srv->tls = NULL;
    gp__dirty_free(srv->alloc_ctx, &srv->dirty);
    gp__free(srv->alloc_ctx, srv->rbuf, GP__RBUF_SIZE);
    gp__free(srv->alloc_ctx, srv->origins, strlen(srv->origins ? srv->origins : "") + 1);
    gp__free(srv->alloc_ctx, srv->protocols, srv->protocols_size);
    gp__free(srv->alloc_ctx, srv->slots, srv->slots_cap * sizeof *srv->slots);
    gp__free(srv->alloc_ctx, srv->dead, srv->dead_cap * sizeof *srv->dead);
    gp__free(srv->alloc_ctx, srv->closed, srv->closed_cap * sizeof *srv->closed);
    gp__free(srv->alloc_ctx, srv->ls, srv->ls_cap * sizeof *srv->ls);
    gp__free(srv->alloc_ctx, srv, sizeof *srv);
}

GP_API int gp_ws_listen_fd(gp_ws_server *srv, int fd) {
    int rc;
    if (srv == NULL || fd < 0) return GP_ERR_INVAL;
    if (gp__set_nonblock(fd) != GP_OK) return GP_ERR_IO;
    if (gp__grow(srv->alloc_ctx, (void **)&srv->ls, &srv->ls_cap, srv->nls + 1, sizeof *srv->ls) != GP_OK)
        return GP_ERR_NOMEM;
    if ((rc = gp_loop_watch(srv->loop, fd, GP_LOOP_READ, gp__accept, srv)) != GP_OK) return rc;
    srv->ls[srv->nls++].fd = fd;
    return GP_OK;
}

GP_API int gp_ws_listen(gp_ws_server *srv, const char *host, int port, int flags) {
    int fd, rc;
    if (srv == NULL) return GP_ERR_INVAL;
    if ((rc = gp_net_listen(host, port, 0, flags, &fd)) != GP_OK) return rc;
    if ((rc = gp_ws_listen_fd(srv, fd)) != GP_OK) close(fd);
    return rc;
}

GP_API int gp_ws_port(const gp_ws_server *srv) {
    return srv && srv->nls > 0 ? gp_net_local_port(srv->ls[0].fd) : -1;
}

GP_API void gp_ws_shutdown(gp_ws_server *srv, int code, const char *reason) {
    size_t i;
    if (srv == NULL) return;
    srv->shutting_down = 1;
    srv->shutdown_code = code ? code : 1001;
    for (i = 0; i < srv->nls; i++) { gp_loop_unwatch(srv->loop, srv->ls[i].fd); close(srv->ls[i].fd); }
    srv->nls = 0;
    for (i = 0; i < srv->nslots; i++) {
        gp__conn *c = srv->slots[i].c;
        if (c == NULL) continue;
        /* handshakes under way finish, then get the same close (no reset mid-handshake) */
        if (c->state == GP__WS_OPEN) gp_conn_close(srv, gp__cid(c), srv->shutdown_code, reason);
    }
}

GP_API void gp_ws_stats_get(const gp_ws_server *srv, gp_ws_stats *st) {
    if (st == NULL) return;
    if (srv) *st = srv->st;
    else memset(st, 0, sizeof *st);
}

GP_API gp_loop *gp_ws_loop(const gp_ws_server *srv) { return srv ? srv->loop : NULL; }

GP_API int gp_ws_send_msg(gp_ws_server *srv, gp_conn_id id, gp_msg *m) {
    gp__conn *c = gp__conn_get(srv, id);
    if (m == NULL) return GP_ERR_INVAL;
    if (c == NULL || c->state != GP__WS_OPEN) return GP_ERR_CLOSED;
    srv->st.msgs_out++;
    return gp__q_push(c, m, 0);
}

GP_API int gp_ws_send(gp_ws_server *srv, gp_conn_id id, int opcode, const void *data, size_t len) {
    gp__conn *c = gp__conn_get(srv, id);
    gp_msg *m;
    int rc;
    if (c == NULL || c->state != GP__WS_OPEN) return GP_ERR_CLOSED;
    if ((opcode & 8) && len > 125) return GP_ERR_TOO_BIG;
    if ((m = gp_msg_new(srv, opcode, data, len)) == NULL) return GP_ERR_NOMEM;
    rc = gp_ws_send_msg(srv, id, m);
    gp_msg_unref(m);
    return rc;
}

GP_API int gp_conn_close(gp_ws_server *srv, gp_conn_id id, int code, const char *reason) {
    gp__conn *c = gp__conn_get(srv, id);
    size_t rl = reason ? strlen(reason) : 0;
    if (c == NULL) return GP_ERR_CLOSED;
    if (c->state == GP__WS_HANDSHAKE) { gp__conn_destroy(c, 1006, "closed before open"); return GP_OK; }
    if (c->state != GP__WS_OPEN) return GP_OK;
    if (code == 0) code = 1000;
    if (!gp_ws_close_code_valid(code)) return GP_ERR_INVAL;
    gp__send_close(c, code, reason, rl);
    if (c->state == GP__WS_DEAD) return GP_OK;
    gp__set_state(c, GP__WS_CLOSING);
    gp__conn_fire_close(c, code, (const uint8_t *)reason, rl);
    return GP_OK;
}

GP_API int gp_conn_is_open(const gp_ws_server *srv, gp_conn_id id) {
    const gp__conn *c = gp__conn_get(srv, id);
    return c != NULL && c->state == GP__WS_OPEN;
}

GP_API int gp_conn_set_user(gp_ws_server *srv, gp_conn_id id, void *user) {
    gp__conn *c = gp__conn_get(srv, id);
    if (c == NULL) return GP_ERR_CLOSED;
    c->user = user;
    return GP_OK;
}

GP_API void *gp_conn_get_user(const gp_ws_server *srv, gp_conn_id id) {
    const gp__conn *c = gp__conn_get(srv, id);
    return c ? c->user : NULL;
}

GP_API size_t gp_conn_queued(const gp_ws_server *srv, gp_conn_id id) {
    const gp__conn *c = gp__conn_get(srv, id);
    return c ? c->st.qbytes : 0;
}

/* ==== >>group  group name -> connection ids. Uses: the public API of >>ws, and >>util's
   allocator wrappers (so GP_MALLOC and alloc_ctx apply) and hash; nothing else private ==== */

typedef struct gp__group gp__group;
typedef struct gp__member {
    gp__group *g;
    gp_conn_id id;
    uint32_t idx;                       /* position in g->m */
    uint64_t word;                      /* the caller's (gp_group_word), 0 at join */
    struct gp__member *cnext, *cprev;   /* the connection's memberships */
    struct gp__member *hnext;           /* membership hash chain (group, id) */
} gp__member;
struct gp__group {
    gp__group *hnext;
    uint32_t hash;
    uint32_t count, cap;
    uint32_t sending;       /* gp_group_send loops under way: an empty group is kept until then */
    gp__member **m;
    size_t nlen;
    char *name;
    void *user;             /* the caller's (gp_group_user), NULL at creation */
};

typedef struct gp__gslot { gp__member *head; uint32_t id, count; } gp__gslot;
struct gp_groups {
    gp_ws_server *srv;
    void *alloc_ctx;
    gp_group_config cfg;
    gp__group **gt;            /* group hash table (chained), size a power of 2 */
    size_t gt_size, ngroups;
    gp__member **mt;           /* membership hash table */
    size_t mt_size, nmembers;
    gp__gslot *slots;          /* per connection slot */
    size_t slots_cap;
};

static int gp__rehash(void *ctx, void ***tab, size_t *size, size_t count, size_t next_off,
                      uint32_t (*hash_of)(const void *)) {
    size_t ns, i;
    void **nt;
    if (count < *size) return GP_OK;
    ns = *size ? *size * 2 : 64;
    nt = (void **)gp__calloc(ctx, ns * sizeof *nt);
    if (nt == NULL) return *size ? GP_OK : GP_ERR_NOMEM;   /* a fuller table still works */
    for (i = 0; i < *size; i++) {
        void *e = (*tab)[i];
        while (e) {   /* the chain pointer sits at next_off inside each entry */
            void *nx;
            size_t b = hash_of(e) & (ns - 1);
            memcpy(&nx, (char *)e + next_off, sizeof nx);
            memcpy((char *)e + next_off, &nt[b], sizeof nt[b]);
            nt[b] = e;
            e = nx;
        }
    }
    gp__free(ctx, *tab, *size * sizeof **tab);
    *tab = nt;
    *size = ns;
    return GP_OK;
}

static uint32_t gp__group_hash_of(const void *e) { return ((const gp__group *)e)->hash; }
static uint32_t gp__mhash(const gp__group *g, gp_conn_id id) {
    uintptr_t p = (uintptr_t)g;
    uint32_t h = (uint32_t)(p >> 4) ^ (uint32_t)((uint64_t)p >> 32);
    return (h ^ (id.v * 2654435761u)) * 2246822519u;
}

static uint32_t gp__member_hash_of(const void *e) {
    const gp__member *m = (const gp__member *)e;
    return gp__mhash(m->g, m->id);
}

static gp__group *gp__group_find(const gp_groups *gs, const void *name, size_t len, uint32_t h) {
    gp__group *g;
    if (gs->gt_size == 0) return NULL;
    for (g = gs->gt[h & (gs->gt_size - 1)]; g; g = g->hnext)
        if (g->hash == h && g->nlen == len && memcmp(g->name, name, len) == 0) return g;
    return NULL;
}

static gp__member *gp__member_find(const gp_groups *gs, const gp__group *g, gp_conn_id id) {
    gp__member *m;
    if (gs->mt_size == 0) return NULL;
    for (m = gs->mt[gp__mhash(g, id) & (gs->mt_size - 1)]; m; m = m->hnext)
        if (m->g == g && m->id.v == id.v) return m;
    return NULL;
}

static void gp__group_defaults(gp_group_config *cfg) {
    GP__DEF(cfg->max_groups_per_conn, 1024);
    GP__DEF(cfg->max_name, 128);
}

GP_API int gp_group_create(gp_ws_server *srv, const gp_group_config *cfg, gp_groups **out) {
    gp_groups *gs;
    if (srv == NULL || out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    gs = (gp_groups *)gp__calloc(srv->alloc_ctx, sizeof *gs);
    if (gs == NULL) return GP_ERR_NOMEM;
    gs->srv = srv;
    gs->alloc_ctx = srv->alloc_ctx;
    if (cfg) gs->cfg = *cfg;
    gp__group_defaults(&gs->cfg);
    *out = gs;
    return GP_OK;
}

static void gp__group_free(gp_groups *gs, gp__group *g) {
    gp__free(gs->alloc_ctx, g->m, g->cap * sizeof *g->m);
    gp__free(gs->alloc_ctx, g->name, g->nlen + 1);
    gp__free(gs->alloc_ctx, g, sizeof *g);
}

GP_API void gp_group_destroy(gp_groups *gs) {
    size_t i;
    if (gs == NULL) return;
    for (i = 0; i < gs->mt_size; i++) {
        gp__member *m = gs->mt[i], *nx;
        for (; m; m = nx) { nx = m->hnext; gp__free(gs->alloc_ctx, m, sizeof *m); }
    }
    for (i = 0; i < gs->gt_size; i++) {
        gp__group *g = gs->gt[i], *nx;
        for (; g; g = nx) { nx = g->hnext; gp__group_free(gs, g); }
    }
    gp__free(gs->alloc_ctx, gs->gt, gs->gt_size * sizeof *gs->gt);
    gp__free(gs->alloc_ctx, gs->mt, gs->mt_size * sizeof *gs->mt);
    gp__free(gs->alloc_ctx, gs->slots, gs->slots_cap * sizeof *gs->slots);
    gp__free(gs->alloc_ctx, gs, sizeof *gs);
}

static gp__gslot *gp__gslot_get(gp_groups *gs, gp_conn_id id, int create) {
    uint32_t s = gp_conn_slot(id);
    gp__gslot *sl;
    if (s >= gs->slots_cap) {
        size_t old = gs->slots_cap;
        if (!create) return NULL;
        if (gp__grow(gs->alloc_ctx, (void **)&gs->slots, &gs->slots_cap, (size_t)s + 1, sizeof *gs->slots) != GP_OK)
            return NULL;
        memset(gs->slots + old, 0, (gs->slots_cap - old) * sizeof *gs->slots);
    }
    sl = &gs->slots[s];
    if (sl->id != id.v) {
        if (!create) return NULL;
        if (sl->head) {   /* stale leftovers */
            gp_conn_id old;
            old.v = sl->id;
            gp_group_leave_all(gs, old);
        }
        sl->head = NULL;
        sl->count = 0;
        sl->id = id.v;
    }
    return sl;
}

/* An empty group leaves the table (on_empty first, while gp_group_user still finds it). */
static void gp__group_drop(gp_groups *gs, gp__group *g) {
    gp__group **gp;
    if (gs->cfg.on_empty) gs->cfg.on_empty(gs, g->name, g->nlen, gs->cfg.user);
    for (gp = &gs->gt[g->hash & (gs->gt_size - 1)]; *gp; gp = &(*gp)->hnext)
        if (*gp == g) { *gp = g->hnext; break; }
    gs->ngroups--;
    gp__group_free(gs, g);
}

static void gp__member_remove(gp_groups *gs, gp__member *m, gp__gslot *sl) {
    gp__group *g = m->g;
    gp__member **pp;
    /* group array: swap-remove */
    g->count--;
    if (m->idx != g->count) {
        g->m[m->idx] = g->m[g->count];
        g->m[m->idx]->idx = m->idx;
    }
    /* connection list */
    if (m->cprev) m->cprev->cnext = m->cnext;
    else sl->head = m->cnext;
    if (m->cnext) m->cnext->cprev = m->cprev;
    sl->count--;
    /* membership hash */
    for (pp = &gs->mt[gp__mhash(g, m->id) & (gs->mt_size - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == m) { *pp = m->hnext; break; }
    gs->nmembers--;
    gp__free(gs->alloc_ctx, m, sizeof *m);
    if (g->count == 0 && !g->sending) gp__group_drop(gs, g);
}

GP_API int gp_group_join(gp_groups *gs, gp_conn_id id, const void *name, size_t len) {
    uint32_t h;
    gp__group *g;
    gp__member *m;
    gp__gslot *sl;
    int created = 0;
    if (gs == NULL || name == NULL || len == 0) return GP_ERR_INVAL;
    if (len > gs->cfg.max_name) return GP_ERR_TOO_BIG;
    if (!gp_conn_is_open(gs->srv, id)) return GP_ERR_CLOSED;
    /* the slot first: taking it over from a stale connection may free groups */
    if ((sl = gp__gslot_get(gs, id, 1)) == NULL) return GP_ERR_NOMEM;
    h = gp__hash(name, len);
    g = gp__group_find(gs, name, len, h);
    if (g && gp__member_find(gs, g, id)) return GP_OK;
    if (sl->count >= gs->cfg.max_groups_per_conn) return GP_ERR_FULL;
    if (gp__rehash(gs->alloc_ctx, (void ***)&gs->mt, &gs->mt_size, gs->nmembers + 1,
                   offsetof(gp__member, hnext), gp__member_hash_of) != GP_OK)
        return GP_ERR_NOMEM;
    m = (gp__member *)gp__calloc(gs->alloc_ctx, sizeof *m);
    if (m == NULL) return GP_ERR_NOMEM;
    if (g == NULL) {
        if (gp__rehash(gs->alloc_ctx, (void ***)&gs->gt, &gs->gt_size, gs->ngroups + 1,
                       offsetof(gp__group, hnext), gp__group_hash_of) != GP_OK ||
            (g = (gp__group *)gp__calloc(gs->alloc_ctx, sizeof *g)) == NULL) {
            gp__free(gs->alloc_ctx, m, sizeof *m);
            return GP_ERR_NOMEM;
        }
        g->name = (char *)gp__malloc(gs->alloc_ctx, len + 1);
        g->m = (gp__member **)gp__malloc(gs->alloc_ctx, 4 * sizeof *g->m);
        if (g->name == NULL || g->m == NULL) {
            gp__free(gs->alloc_ctx, g->name, len + 1);
            gp__free(gs->alloc_ctx, g->m, 4 * sizeof *g->m);
            gp__free(gs->alloc_ctx, g, sizeof *g);
            gp__free(gs->alloc_ctx, m, sizeof *m);
            return GP_ERR_NOMEM;
        }
        g->cap = 4;
        memcpy(g->name, name, len);
        g->name[len] = '\0';
        g->nlen = len;
        g->hash = h;
        g->hnext = gs->gt[h & (gs->gt_size - 1)];
        gs->gt[h & (gs->gt_size - 1)] = g;
        gs->ngroups++;
        created = 1;
    } else if (g->count == g->cap) {
        size_t cap = g->cap;
        if (cap >= UINT32_MAX / 2 ||
            gp__grow(gs->alloc_ctx, (void **)&g->m, &cap, (size_t)g->count + 1, sizeof *g->m) != GP_OK) {
            gp__free(gs->alloc_ctx, m, sizeof *m);
            return GP_ERR_NOMEM;
        }
        g->cap = (uint32_t)cap;
    }
    m->g = g;
    m->id = id;
    m->idx = g->count;
    g->m[g->count++] = m;
    m->cnext = sl->head;
    if (sl->head) sl->head->cprev = m;
    sl->head = m;
    sl->count++;
    m->hnext = gs->mt[gp__mhash(g, id) & (gs->mt_size - 1)];
    gs->mt[gp__mhash(g, id) & (gs->mt_size - 1)] = m;
    gs->nmembers++;
    if (created && gs->cfg.on_first) gs->cfg.on_first(gs, g->name, g->nlen, gs->cfg.user);
    return GP_OK;
}

GP_API int gp_group_leave(gp_groups *gs, gp_conn_id id, const void *name, size_t len) {
    gp__group *g;
    gp__member *m;
    gp__gslot *sl;
    if (gs == NULL || name == NULL) return GP_ERR_INVAL;
    g = gp__group_find(gs, name, len, gp__hash(name, len));
    if (g == NULL || (m = gp__member_find(gs, g, id)) == NULL) return GP_ERR_NOTFOUND;
    if ((sl = gp__gslot_get(gs, id, 0)) == NULL) return GP_ERR_NOTFOUND;
    gp__member_remove(gs, m, sl);
    return GP_OK;
}

GP_API void gp_group_leave_all(gp_groups *gs, gp_conn_id id) {
    gp__gslot *sl;
    if (gs == NULL || (sl = gp__gslot_get(gs, id, 0)) == NULL) return;
    while (sl->head) gp__member_remove(gs, sl->head, sl);
    sl->id = 0;
}

GP_API size_t gp_group_send(gp_groups *gs, const void *name, size_t len, gp_msg *msg) {
    gp_conn_id none;
    none.v = 0;
    return gp_group_send_except(gs, name, len, msg, none);
}

GP_API size_t gp_group_send_except(gp_groups *gs, const void *name, size_t len, gp_msg *msg, gp_conn_id except) {
    gp__group *g;
    size_t i, n = 0;
    if (gs == NULL || msg == NULL) return 0;
    g = gp__group_find(gs, name, len, gp__hash(name, len));
    if (g == NULL) return 0;
    /* on_close is deferred to the end of the batch, so normally no member leaves during this
       loop; but with no memory to defer it, it runs inside gp_ws_send_msg and may make the
       slow member leave. Hence: backwards (a member's swap-remove moves an already-served
       one into its place) and the group kept alive until the loop ends. */
    g->sending++;
    for (i = g->count; i-- > 0;) {
        if (i >= g->count || g->m[i]->id.v == except.v) continue;
        if (gp_ws_send_msg(gs->srv, g->m[i]->id, msg) == GP_OK) n++;
    }
    g->sending--;
    if (g->count == 0 && !g->sending) gp__group_drop(gs, g);
    return n;
}

GP_API size_t gp_group_each(gp_groups *gs, gp_conn_id id,
                            void (*fn)(gp_groups *g, gp_conn_id id, const char *name, size_t len, void *user),
                            void *user) {
    gp__gslot *sl;
    gp__member *m, *nx;
    size_t n = 0;
    if (gs == NULL || fn == NULL || (sl = gp__gslot_get(gs, id, 0)) == NULL) return 0;
    for (m = sl->head; m; m = nx, n++) {   /* the next one first: fn may remove m */
        nx = m->cnext;
        fn(gs, id, m->g->name, m->g->nlen, user);
    }
    return n;
}

GP_API size_t gp_group_each_member(gp_groups *gs, const void *name, size_t len, gp_group_member_fn fn, void *user) {
    gp__group *g;
    size_t i, n = 0;
    if (gs == NULL || fn == NULL) return 0;
    g = gp__group_find(gs, name, len, gp__hash(name, len));
    if (g == NULL) return 0;
    g->sending++;   /* as gp_group_send: backwards, the group kept until the loop ends */
    for (i = g->count; i-- > 0;) {
        if (i >= g->count) continue;
        fn(gs, g->m[i]->id, &g->m[i]->word, user);
        n++;
    }
    g->sending--;
    if (g->count == 0 && !g->sending) gp__group_drop(gs, g);
    return n;
}

GP_API uint64_t *gp_group_word(gp_groups *gs, gp_conn_id id, const void *name, size_t len) {
    gp__group *g;
    gp__member *m;
    if (gs == NULL || name == NULL) return NULL;
    g = gp__group_find(gs, name, len, gp__hash(name, len));
    return g && (m = gp__member_find(gs, g, id)) != NULL ? &m->word : NULL;
}

GP_API void **gp_group_user(gp_groups *gs, const void *name, size_t len) {
    gp__group *g = gs && name ? gp__group_find(gs, name, len, gp__hash(name, len)) : NULL;
    return g ? &g->user : NULL;
}

GP_API size_t gp_group_size(const gp_groups *gs, const void *name, size_t len) {
    const gp__group *g = gs ? gp__group_find(gs, name, len, gp__hash(name, len)) : NULL;
    return g ? g->count : 0;
}

GP_API void gp_group_counts(const gp_groups *gs, size_t *groups, size_t *memberships) {
    if (groups) *groups = gs ? gs->ngroups : 0;
    if (memberships) *memberships = gs ? gs->nmembers : 0;
}

/* ==== >>chan  RESP2/RESP3 codec (the channel speaks Redis's protocol). Pure. Uses: >>util ==== */

#define GP__RESP_MAX_LINE 65536
#define GP__RESP_MAX_DEPTH 32

/* Find "\r\n" from p; returns index of '\r' or -1. */
static long gp__crlf(const uint8_t *b, size_t from, size_t len) {
    const uint8_t *p = b + from, *end = b + len;
    while (p < end) {
        const uint8_t *cr = (const uint8_t *)memchr(p, '\r', (size_t)(end - p));
        if (cr == NULL || cr + 1 >= end) return -1;
        if (cr[1] == '\n') return (long)(cr - b);
        p = cr + 1;
    }
    return -1;
}

static int gp__parse_i64(const uint8_t *p, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0;
    if (n == 0) return -1;
    if (p[0] == '-' || p[0] == '+') { neg = p[0] == '-'; i = 1; }
    if (i == n) return -1;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        if (v > (uint64_t)INT64_MAX / 10) return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
        if (v > (uint64_t)INT64_MAX + (uint64_t)neg) return -1;   /* 2^63 only as INT64_MIN */
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

GP_API long gp_chan_parse(const uint8_t *buf, size_t len, gp_chan_value *vals, size_t max_vals,
                          size_t *nvals, uint64_t max_bulk) {
    size_t pos = 0, nv = 0;
    int64_t left[GP__RESP_MAX_DEPTH];
    int depth = 0;
    if (nvals) *nvals = 0;
    for (;;) {
        long cr;
        int64_t n;
        gp_chan_value *v;
        const uint8_t *line;
        size_t ll;
        int done = 1;
        if (pos >= len) return 0;
        cr = gp__crlf(buf, pos + 1, len);
        if (cr < 0) return len - pos > GP__RESP_MAX_LINE ? GP_ERR_PROTOCOL : 0;
        if (nv >= max_vals) return GP_ERR_TOO_BIG;
        v = &vals[nv++];
        memset(v, 0, sizeof *v);
        v->type = buf[pos];
        line = buf + pos + 1;
        ll = (size_t)cr - pos - 1;
        pos = (size_t)cr + 2;
        switch (v->type) {
        case '+': case '-': case ',': case '(':
            v->str.ptr = line; v->str.len = ll;
            break;
        case ':':
            if (gp__parse_i64(line, ll, &v->integer) != 0) return GP_ERR_PROTOCOL;
            break;
        case '#':
            if (ll != 1 || (line[0] != 't' && line[0] != 'f')) return GP_ERR_PROTOCOL;
            v->integer = line[0] == 't';
            break;
        case '_':
            if (ll != 0) return GP_ERR_PROTOCOL;
            break;
        case '$': case '!': case '=':
            if (gp__parse_i64(line, ll, &n) != 0) return GP_ERR_PROTOCOL;
            if (n == -1 && v->type == '$') { v->type = GP_CHAN_NULL; break; }
            if (n < 0) return GP_ERR_PROTOCOL;
            if ((uint64_t)n > max_bulk) return GP_ERR_TOO_BIG;
            if (len - pos < (uint64_t)n + 2) return 0;
            if (buf[pos + (size_t)n] != '\r' || buf[pos + (size_t)n + 1] != '\n') return GP_ERR_PROTOCOL;
            v->str.ptr = buf + pos; v->str.len = (size_t)n;
            pos += (size_t)n + 2;
            break;
        case '*': case '%': case '~': case '>': case '|':
            if (gp__parse_i64(line, ll, &n) != 0) return GP_ERR_PROTOCOL;
            if (n == -1 && v->type == '*') { v->type = GP_CHAN_NULL; break; }
            if (n < 0 || (uint64_t)n > max_vals) return n < 0 ? GP_ERR_PROTOCOL : GP_ERR_TOO_BIG;
            v->integer = n;
            v->children = (size_t)n * ((v->type == '%' || v->type == '|') ? 2u : 1u);
            if (v->children > 0) {
                if (depth >= GP__RESP_MAX_DEPTH) return GP_ERR_PROTOCOL;
                left[depth++] = (int64_t)v->children;
                done = 0;
            }
            break;
        default:
            return GP_ERR_PROTOCOL;
        }
        if (!done) continue;
        /* a value completed: count it against its parents */
        while (depth > 0) {
            if (--left[depth - 1] > 0) break;
            depth--;
        }
        if (depth == 0) {
            if (nvals) *nvals = nv;
            return (long)pos;
        }
    }
}

/* Split an inline request line in place, by Redis's rules (sds.c sdssplitargs): a quote may
   open anywhere in a word (`k"ey x"` is one word, `key x`); a closing quote must be followed
   by white space or the end; in "..." \xHH and \n \r \t \b \a are escapes, in '...' only \'. */
static int gp__isspace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static int gp__split_inline(uint8_t *p, size_t n, gp_bytes *args, size_t max_args, size_t *argc) {
    size_t i = 0, ac = 0;
    for (;;) {
        uint8_t *o;
        uint8_t q = 0;   /* the open quote, or 0 */
        while (i < n && gp__isspace(p[i])) i++;
        if (i >= n) break;
        if (ac >= max_args) return GP_ERR_TOO_BIG;
        o = p + i;
        args[ac].ptr = o;
        for (;;) {
            if (i >= n) {
                if (q) return GP_ERR_PROTOCOL;   /* unbalanced quotes */
                break;
            }
            if (q == '"' && p[i] == '\\' && i + 3 < n && p[i + 1] == 'x' &&
                gp__hexval(p[i + 2]) >= 0 && gp__hexval(p[i + 3]) >= 0) {
                *o++ = (uint8_t)(gp__hexval(p[i + 2]) * 16 + gp__hexval(p[i + 3]));
                i += 4;
            } else if (q && p[i] == '\\' && i + 1 < n && (q == '"' || p[i + 1] == '\'')) {
                uint8_t c = p[i + 1];
                if (q == '"') {
                    switch (c) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: break;
                    }
                }
                *o++ = c;
                i += 2;
            } else if (q && p[i] == q) {
                i++;
                if (i < n && !gp__isspace(p[i])) return GP_ERR_PROTOCOL;
                break;
            } else if (!q && (p[i] == '"' || p[i] == '\'')) {
                q = p[i++];
            } else if (!q && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) {
                break;
            } else {
                *o++ = p[i++];
            }
        }
        args[ac].len = (size_t)(o - args[ac].ptr);
        ac++;
    }
    *argc = ac;
    return GP_OK;
}

GP_API long gp_chan_parse_request(uint8_t *buf, size_t len, gp_bytes *args, size_t max_args,
                                  size_t *argc, uint64_t max_bulk, size_t max_inline) {
    size_t pos, k;
    long cr;
    int64_t n;
    *argc = 0;
    if (len == 0) return 0;
    if (buf[0] != '*') {   /* inline command: one line */
        const uint8_t *nl = (const uint8_t *)memchr(buf, '\n', len);
        size_t ll;
        int rc;
        if (nl == NULL) return len > max_inline ? GP_ERR_TOO_BIG : 0;
        ll = (size_t)(nl - buf);
        if (ll > max_inline) return GP_ERR_TOO_BIG;
        if (ll > 0 && buf[ll - 1] == '\r') ll--;
        rc = gp__split_inline(buf, ll, args, max_args, argc);
        if (rc != GP_OK) return rc;
        return (long)(nl - buf) + 1;
    }
    cr = gp__crlf(buf, 1, len);
    if (cr < 0) return len > GP__RESP_MAX_LINE ? GP_ERR_PROTOCOL : 0;
    if (gp__parse_i64(buf + 1, (size_t)cr - 1, &n) != 0 || n > 1024 * 1024) return GP_ERR_PROTOCOL;
    pos = (size_t)cr + 2;
    if (n <= 0) return (long)pos;
    if ((uint64_t)n > max_args) return GP_ERR_TOO_BIG;
    for (k = 0; k < (size_t)n; k++) {
        int64_t bl;
        if (pos >= len) return 0;
        if (buf[pos] != '$') return GP_ERR_PROTOCOL;
        cr = gp__crlf(buf, pos + 1, len);
        if (cr < 0) return len - pos > GP__RESP_MAX_LINE ? GP_ERR_PROTOCOL : 0;
        if (gp__parse_i64(buf + pos + 1, (size_t)cr - pos - 1, &bl) != 0 || bl < 0) return GP_ERR_PROTOCOL;
        if ((uint64_t)bl > max_bulk) return GP_ERR_TOO_BIG;
        pos = (size_t)cr + 2;
        if (len - pos < (uint64_t)bl + 2) return 0;
        if (buf[pos + (size_t)bl] != '\r' || buf[pos + (size_t)bl + 1] != '\n') return GP_ERR_PROTOCOL;
        args[k].ptr = buf + pos;
        args[k].len = (size_t)bl;
        pos += (size_t)bl + 2;
    }
    *argc = (size_t)n;
    return (long)pos;
}

/* A RESP head: the type byte, the decimal n (with '-' when neg), CRLF. No printf: every
   value the channel writes starts with one of these. */
static int gp__chan_head(gp_buf *b, int type, uint64_t n, int neg) {
    char t[24];
    size_t k = sizeof t;
    t[--k] = '\n';
    t[--k] = '\r';
    do { t[--k] = (char)('0' + n % 10); n /= 10; } while (n);
    if (neg) t[--k] = '-';
    t[--k] = (char)type;
    return gp_buf_append(b, t + k, sizeof t - k);
}

GP_API int gp_chan_put_agg(gp_buf *b, int type, size_t n) { return gp__chan_head(b, type, n, 0); }

GP_API int gp_chan_put_bulk(gp_buf *b, const void *s, size_t n) {
    if (gp_buf_reserve(b, n + 26) != GP_OK || gp__chan_head(b, '$', n, 0) != GP_OK) return GP_ERR_NOMEM;
    gp_buf_append(b, s, n);   /* room reserved: cannot fail */
    return gp_buf_append(b, "\r\n", 2);
}

GP_API int gp_chan_put_simple(gp_buf *b, int type, const char *s) {
    size_t n = strlen(s);
    if (gp_buf_reserve(b, n + 3) != GP_OK) return GP_ERR_NOMEM;
    b->data[b->len++] = (uint8_t)type;
    gp_buf_append(b, s, n);
    return gp_buf_append(b, "\r\n", 2);
}

GP_API int gp_chan_put_int(gp_buf *b, int64_t v) {   /* INT64_MIN's magnitude computed without overflow */
    return v < 0 ? gp__chan_head(b, ':', (uint64_t)(-(v + 1)) + 1u, 1) : gp__chan_head(b, ':', (uint64_t)v, 0);
}

GP_API int gp_chan_put_null(gp_buf *b, int resp3) {
    return gp__buf_puts(b, resp3 ? "_\r\n" : "$-1\r\n");
}

GP_API int gp_chan_put_command(gp_buf *b, size_t argc, const gp_bytes *args) {
    size_t i;
    if (gp_chan_put_agg(b, '*', argc) != GP_OK) return GP_ERR_NOMEM;
    for (i = 0; i < argc; i++)
        if (gp_chan_put_bulk(b, args[i].ptr, args[i].len) != GP_OK) return GP_ERR_NOMEM;
    return GP_OK;
}

/* Redis glob rules (stringmatchlen): * ? [abc] [^a-z] and \ escapes. Iterative with one
   backtrack point for '*', so no recursion and linear-ish time. */
GP_API int gp_chan_glob_match(const uint8_t *pat, size_t plen, const uint8_t *s, size_t slen) {
    size_t p = 0, i = 0, star_p = (size_t)-1, star_i = 0;
    if (slen == 0) return plen == 0;   /* as Redis: no pattern but "" matches "" */
    while (i < slen) {
        if (p < plen && pat[p] == '*') {
            while (p < plen && pat[p] == '*') p++;
            if (p == plen) return 1;
            star_p = p;
            star_i = i;
            continue;
        }
        if (p < plen) {
            int match = 0;
            size_t np = p + 1;
            if (pat[p] == '?') match = 1;
            else if (pat[p] == '[') {
                size_t q = p + 1;
                int neg = 0;
                if (q < plen && pat[q] == '^') { neg = 1; q++; }
                for (;;) {
                    if (q >= plen) { q = plen; break; }
                    if (pat[q] == ']') break;
                    if (pat[q] == '\\' && q + 1 < plen) {
                        q++;
                        if (pat[q] == s[i]) match = 1;
                    } else if (q + 2 < plen && pat[q + 1] == '-') {
                        uint8_t a = pat[q], b = pat[q + 2];
                        if (a > b) { uint8_t t = a; a = b; b = t; }
                        if (s[i] >= a && s[i] <= b) match = 1;
                        q += 2;
                    } else if (pat[q] == s[i]) match = 1;
                    q++;
                }
                if (neg) match = !match;
                np = q < plen ? q + 1 : plen;
            } else if (pat[p] == '\\' && p + 1 < plen) {
                match = pat[p + 1] == s[i];
                np = p + 2;
            } else match = pat[p] == s[i];
            if (match) { p = np; i++; continue; }
        }
        if (star_p == (size_t)-1) return 0;
        p = star_p;
        i = ++star_i;
    }
    while (p < plen && pat[p] == '*') p++;
    return p == plen;
}

GP_API void gp_chan_script_sha(const char *script, char out[41]) {
    static const char hex[] = "0123456789abcdef";
    uint8_t d[20];
    int i;
    gp_sha1(script, strlen(script), d);
    for (i = 0; i < 20; i++) { out[2 * i] = hex[d[i] >> 4]; out[2 * i + 1] = hex[d[i] & 15]; }
    out[40] = '\0';
}

/* ==== >>chansrv  Redis-compatible pub/sub server. Uses: >>loop >>net >>chan ==== */

#define GP__CS "chansrv"
typedef struct gp__cs_client gp__cs_client;
typedef struct gp__cs_channel {                  /* a channel with subscribers */
    struct gp__cs_channel *hnext;
    uint32_t hash;
    gp__cs_client **subs;
    size_t nsubs, cap, len;
    uint8_t *name;
    uint64_t mark;                          /* cmd_seq of the SUBSCRIBE that last added a subscriber */
} gp__cs_channel;
typedef struct gp__cs_pattern { gp__cs_client *c; uint8_t *p; size_t n; } gp__cs_pattern;
typedef struct gp__cs_kept { uint8_t *ch; size_t chlen; uint8_t *msg; size_t len; } gp__cs_kept;
struct gp__cs_client {               /* a client of the channel server */
    gp__stream st;              /* first: the dirty list holds &c->st (>>stream) */
    gp_chansrv *s;
    uint64_t id;
    gp_buf in, out;             /* out: replies being built, queued on st by gp__cs_flush */
    gp_buf held;                /* out itself while a muted command writes to a scratch out */
    uint8_t resp3, authed, quit, dead, seen;
    uint8_t opened;             /* 1 once its opening pipeline is over (grace replay) */
    uint8_t multi, multi_dirty; /* inside MULTI; a rejected command dooms the EXEC */
    uint8_t reply_off, skip_this, skip_next, muted;   /* CLIENT REPLY OFF / SKIP */
    size_t grace_from;          /* kept messages before this index predate the client */
    gp_buf mq;                  /* the commands MULTI queued (see gp__cs_multi_queue) */
    size_t mq_count;
    uint64_t created_ms, last_ms;
    const char *last_cmd, *last_sub;   /* names in the command table, for CLIENT LIST */
    char *name, *lib_name, *lib_ver;
    gp__cs_channel **chans;
    size_t nchans, chans_cap;
    size_t npats;
};

struct gp_chansrv {
    gp_loop *loop;
    void *alloc_ctx;
    gp_chansrv_config cfg;
    char *password;
    int lfd;
    gp__cs_client **clients;
    size_t nclients, clients_cap;
    gp__cs_channel **ct;
    size_t ct_size, nchannels;
    gp__cs_pattern *pats;
    size_t npats, pats_cap;
    gp__dirty dirty;            /* room for every client */
    gp_bytes *argv, *xargv;     /* a request's words; those of the command EXEC runs */
    size_t argv_cap, xargv_cap;
    uint64_t started_ms;
    uint64_t next_id, grace_until, grace_timer, cmd_seq;
    gp__cs_kept *grace;
    size_t ngrace, grace_cap, grace_bytes;
    gp_chansrv_store *store, *own_store;   /* group offsets and history (cfg.store or its own) */
    gp_buf scratch;             /* a script's publish, built before it goes out */
    gp_chansrv_stats st;
};

static uint32_t gp__cs_channel_hash_of(const void *e) { return ((const gp__cs_channel *)e)->hash; }
static gp__cs_channel *gp__cs_find(gp_chansrv *s, const uint8_t *name, size_t len) {
    uint32_t h = gp__hash(name, len);
    gp__cs_channel *ch;
    if (s->ct_size == 0) return NULL;
    for (ch = s->ct[h & (s->ct_size - 1)]; ch; ch = ch->hnext)
        if (ch->hash == h && ch->len == len && memcmp(ch->name, name, len) == 0) return ch;
    return NULL;
}

static void gp__cs_mark(gp__cs_client *c) { if (!c->dead) gp__stream_mark(&c->s->dirty, &c->st); }
static void gp__cs_kill(gp__cs_client *c, const char *why) {
    if (c->dead) return;
    GP__LOG(c->s->loop, GP_LOG_DEBUG, GP__CS, "client %llu closed: %s", (unsigned long long)c->id, why);
    gp__cs_mark(c);   /* the hook frees it */
    c->dead = 1;
    gp_loop_unwatch(c->s->loop, c->st.fd);
    close(c->st.fd);
    c->st.fd = -1;
}

static void gp__cs_err(gp__cs_client *c, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void gp__cs_err(gp__cs_client *c, const char *fmt, ...) {
    char msg[512];
    size_t i;
    va_list ap;
    va_start(ap, fmt);
    gp__vfmt(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (i = 0; msg[i]; i++) if (msg[i] == '\r' || msg[i] == '\n') msg[i] = ' ';
    gp_chan_put_simple(&c->out, '-', msg);
}

static void gp__cs_bulkstr(gp__cs_client *c, const char *s) { gp_chan_put_bulk(&c->out, s, strlen(s)); }
static size_t gp__cs_count(const gp__cs_client *c) { return c->nchans + c->npats; }
/* Where c's replies go: its out buffer, or while a command runs muted (CLIENT REPLY OFF),
   the held one, for what must still go out (pushes, (un)subscribe notifications). */
static gp_buf *gp__cs_real_out(gp__cs_client *c) { return c->muted ? &c->held : &c->out; }

/* A push reached c: count it, flush it at the end of the batch, and drop c past its output
   limit (queued plus being built; Redis's client-output-buffer-limit pubsub). */
static void gp__cs_delivered(gp__cs_client *c) {
    gp_chansrv *s = c->s;
    s->st.delivered++;
    gp__cs_mark(c);
    if (c->st.qbytes + gp__cs_real_out(c)->len > s->cfg.max_output) {
        s->st.dropped_clients++;
        GP__LOG(s->loop, GP_LOG_WARN, GP__CS, "client %llu: output buffer over %lu bytes, dropped",
                (unsigned long long)c->id, (unsigned long)s->cfg.max_output);
        gp__cs_kill(c, "output buffer limit");
    }
}

/* Queue a shared frame for c behind the replies it has so far. */
static void gp__cs_push(gp__cs_client *c, gp_msg *m) {
    gp_chansrv *s = c->s;
    if (c->dead) return;
    if (gp__stream_push_buf(s->alloc_ctx, &c->st, gp__cs_real_out(c)) != GP_OK ||
        gp__stream_push(s->alloc_ctx, &c->st, m) != GP_OK) {
        gp__cs_kill(c, "out of memory");
        return;
    }
    gp__cs_delivered(c);
}

/* A message (or, with pat, pmessage) push, encoded once for every subscriber that speaks
   the same RESP version: NULL without memory. */
static gp_msg *gp__cs_frame(gp_chansrv *s, int resp3, const uint8_t *pat, size_t plen, const uint8_t *ch,
                            size_t chlen, const uint8_t *msg, size_t len) {
    gp_buf b;
    gp_msg *m;
    memset(&b, 0, sizeof b);
    b.alloc_ctx = s->alloc_ctx;
    if (gp_buf_reserve(&b, 48 + plen + chlen + len) != GP_OK) return NULL;
    gp_chan_put_agg(&b, resp3 ? '>' : '*', pat ? 4 : 3);
    if (pat) { gp_chan_put_bulk(&b, "pmessage", 8); gp_chan_put_bulk(&b, pat, plen); }
    else gp_chan_put_bulk(&b, "message", 7);
    gp_chan_put_bulk(&b, ch, chlen);
    gp_chan_put_bulk(&b, msg, len);
    if ((m = gp__msg_from_buf(&b)) == NULL) gp_buf_free(&b);
    return m;
}

/* A push for one client alone (a channel's only subscriber, a pattern, the grace replay),
   written into its own reply bytes: no frame to share, so none is made. */
static void gp__cs_push_msg(gp__cs_client *c, const uint8_t *pat, size_t plen, const uint8_t *ch, size_t chlen,
                            const uint8_t *msg, size_t len) {
    gp_buf *o = gp__cs_real_out(c);
    if (c->dead) return;
    if (gp_buf_reserve(o, 48 + plen + chlen + len) != GP_OK) { gp__cs_kill(c, "out of memory"); return; }
    gp_chan_put_agg(o, c->resp3 ? '>' : '*', pat ? 4 : 3);
    if (pat) { gp_chan_put_bulk(o, "pmessage", 8); gp_chan_put_bulk(o, pat, plen); }
    else gp_chan_put_bulk(o, "message", 7);
    gp_chan_put_bulk(o, ch, chlen);
    gp_chan_put_bulk(o, msg, len);
    gp__cs_delivered(c);
}

static size_t gp__cs_publish(gp_chansrv *s, const uint8_t *ch, size_t chlen, const uint8_t *msg, size_t len) {
    gp__cs_channel *chan = gp__cs_find(s, ch, chlen);
    gp_msg *frame[2] = { NULL, NULL };   /* RESP2, RESP3: encoded once, on first use */
    size_t n = 0, i, live = 0;
    s->st.published++;
    for (i = 0; chan && i < chan->nsubs && live < 2; i++) live += !chan->subs[i]->dead;
    if (live == 1) {   /* one receiver: nothing to share */
        for (i = 0; chan->subs[i]->dead; i++) continue;
        gp__cs_push_msg(chan->subs[i], NULL, 0, ch, chlen, msg, len);
        n = 1;
    } else if (chan) {
        for (i = 0; i < chan->nsubs; i++) {
            gp__cs_client *c = chan->subs[i];
            if (c->dead) continue;
            n++;
            if (frame[c->resp3] == NULL && (frame[c->resp3] = gp__cs_frame(s, c->resp3, NULL, 0, ch, chlen, msg, len)) == NULL) {
                gp__cs_kill(c, "out of memory");
                continue;
            }
            gp__cs_push(c, frame[c->resp3]);
        }
        gp_msg_unref(frame[0]);
        gp_msg_unref(frame[1]);
    }
    for (i = 0; i < s->npats; i++) {
        gp__cs_pattern *p = &s->pats[i];
        if (p->c->dead || !gp_chan_glob_match(p->p, p->n, ch, chlen)) continue;
        gp__cs_push_msg(p->c, p->p, p->n, ch, chlen, msg, len);
        n++;
    }
    /* failover grace: keep it for subscribers that have not come back yet */
    if (s->grace_until && gp_loop_now(s->loop) < s->grace_until &&
        s->grace_bytes + chlen + len <= s->cfg.grace_max_bytes &&
        gp__grow(s->alloc_ctx, (void **)&s->grace, &s->grace_cap, s->ngrace + 1, sizeof *s->grace) == GP_OK) {
        gp__cs_kept *g = &s->grace[s->ngrace];
        g->ch = (uint8_t *)gp__malloc(s->alloc_ctx, chlen + len + 1);
        if (g->ch) {
            memcpy(g->ch, ch, chlen);
            memcpy(g->ch + chlen, msg, len);
            g->chlen = chlen;
            g->msg = g->ch + chlen;
            g->len = len;
            s->ngrace++;
            s->grace_bytes += chlen + len;
            s->st.graced++;
        }
    }
    return n;
}

static void gp__cs_grace_free(gp_chansrv *s) {
    size_t i;
    for (i = 0; i < s->ngrace; i++) gp__free(s->alloc_ctx, s->grace[i].ch, s->grace[i].chlen + s->grace[i].len + 1);
    gp__free(s->alloc_ctx, s->grace, s->grace_cap * sizeof *s->grace);
    s->grace = NULL;
    s->ngrace = s->grace_cap = s->grace_bytes = 0;
}

static void gp__cs_grace_end(gp_loop *loop, void *user) {
    gp_chansrv *s = (gp_chansrv *)user;
    (void)loop;
    s->grace_until = 0;
    s->grace_timer = 0;
    gp__cs_grace_free(s);
}

/* Failover grace: hand a client the kept messages it could not have seen (published
   before its first command), once, in publish order, for the channels this SUBSCRIBE added
   (is_pat 0: those marked with this command's cmd_seq) or the patterns this PSUBSCRIBE
   added (is_pat 1: s->pats from pat_from on). Only in the connection's opening pipeline:
   its (P)SUBSCRIBE commands before any command other than HELLO, AUTH or CLIENT. That is
   the re-subscription a reconnecting gp_chancli sends behind HELLO and ends with a PING;
   a SUBSCRIBE after it is a new join, which sees only what is published after it. */
static void gp__cs_grace_replay(gp__cs_client *c, int is_pat, size_t pat_from) {
    gp_chansrv *s = c->s;
    size_t i, j;
    if (c->opened || s->ngrace == 0 || gp_loop_now(s->loop) >= s->grace_until) return;
    for (i = 0; i < c->grace_from && i < s->ngrace; i++) {
        gp__cs_kept *g = &s->grace[i];
        if (!is_pat) {
            gp__cs_channel *ch = gp__cs_find(s, g->ch, g->chlen);
            if (ch && ch->mark == s->cmd_seq) gp__cs_push_msg(c, NULL, 0, g->ch, g->chlen, g->msg, g->len);
        } else {
            for (j = pat_from; j < s->npats; j++) {
                gp__cs_pattern *p = &s->pats[j];
                if (p->c == c && gp_chan_glob_match(p->p, p->n, g->ch, g->chlen))
                    gp__cs_push_msg(c, p->p, p->n, g->ch, g->chlen, g->msg, g->len);
            }
        }
    }
}

static void gp__cs_chan_drop(gp_chansrv *s, gp__cs_channel *ch, gp__cs_client *c);
static int gp__cs_subscribe(gp__cs_client *c, const uint8_t *name, size_t len) {
    gp_chansrv *s = c->s;
    gp__cs_channel *ch = gp__cs_find(s, name, len);
    size_t i;
    if (ch) {
        for (i = 0; i < ch->nsubs; i++) if (ch->subs[i] == c) return 0;
    } else {
        if (gp__rehash(s->alloc_ctx, (void ***)&s->ct, &s->ct_size, s->nchannels + 1,
                       offsetof(gp__cs_channel, hnext), gp__cs_channel_hash_of) != GP_OK)
            return GP_ERR_NOMEM;
        ch = (gp__cs_channel *)gp__calloc(s->alloc_ctx, sizeof *ch);
        if (ch == NULL || (ch->name = (uint8_t *)gp__malloc(s->alloc_ctx, len + 1)) == NULL) {
            gp__free(s->alloc_ctx, ch, sizeof *ch);
            return GP_ERR_NOMEM;
        }
        memcpy(ch->name, name, len);
        ch->len = len;
        ch->hash = gp__hash(name, len);
        ch->hnext = s->ct[ch->hash & (s->ct_size - 1)];
        s->ct[ch->hash & (s->ct_size - 1)] = ch;
        s->nchannels++;
    }
    if (gp__grow(s->alloc_ctx, (void **)&ch->subs, &ch->cap, ch->nsubs + 1, sizeof *ch->subs) != GP_OK ||
        gp__grow(s->alloc_ctx, (void **)&c->chans, &c->chans_cap, c->nchans + 1, sizeof *c->chans) != GP_OK) {
        if (ch->nsubs == 0) gp__cs_chan_drop(s, ch, c);   /* a channel made just now: not left behind */
        return GP_ERR_NOMEM;
    }
    ch->subs[ch->nsubs++] = c;
    c->chans[c->nchans++] = ch;
    ch->mark = s->cmd_seq;
    return 1;
}

static void gp__cs_chan_drop(gp_chansrv *s, gp__cs_channel *ch, gp__cs_client *c) {
    size_t i;
    gp__cs_channel **pp;
    for (i = 0; i < ch->nsubs; i++)
        if (ch->subs[i] == c) { ch->subs[i] = ch->subs[--ch->nsubs]; break; }
    if (ch->nsubs > 0) return;
    for (pp = &s->ct[ch->hash & (s->ct_size - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == ch) { *pp = ch->hnext; break; }
    s->nchannels--;
    gp__free(s->alloc_ctx, ch->subs, ch->cap * sizeof *ch->subs);
    gp__free(s->alloc_ctx, ch->name, ch->len + 1);
    gp__free(s->alloc_ctx, ch, sizeof *ch);
}

static int gp__cs_unsubscribe(gp__cs_client *c, const uint8_t *name, size_t len) {
    size_t i;
    for (i = 0; i < c->nchans; i++) {
        gp__cs_channel *ch = c->chans[i];
        if (ch->len == len && memcmp(ch->name, name, len) == 0) {
            memmove(c->chans + i, c->chans + i + 1, (c->nchans - i - 1) * sizeof *c->chans);
            c->nchans--;
            gp__cs_chan_drop(c->s, ch, c);
            return 1;
        }
    }
    return 0;
}

static int gp__cs_psubscribe(gp__cs_client *c, const uint8_t *p, size_t n) {
    gp_chansrv *s = c->s;
    size_t i;
    gp__cs_pattern *e;
    for (i = 0; i < s->npats; i++)
        if (s->pats[i].c == c && s->pats[i].n == n && memcmp(s->pats[i].p, p, n) == 0) return 0;
    if (gp__grow(s->alloc_ctx, (void **)&s->pats, &s->pats_cap, s->npats + 1, sizeof *s->pats) != GP_OK)
        return GP_ERR_NOMEM;
    e = &s->pats[s->npats];
    if ((e->p = (uint8_t *)gp__malloc(s->alloc_ctx, n + 1)) == NULL) return GP_ERR_NOMEM;
    memcpy(e->p, p, n);
    e->n = n;
    e->c = c;
    s->npats++;
    c->npats++;
    return 1;
}

/* Remove c's pattern p (or, with p == NULL, the first of c's patterns, copied to out). */
static int gp__cs_punsubscribe(gp__cs_client *c, const uint8_t *p, size_t n, gp_buf *out) {
    gp_chansrv *s = c->s;
    size_t i;
    for (i = 0; i < s->npats; i++) {
        gp__cs_pattern *e = &s->pats[i];
        if (e->c != c || (p && (e->n != n || memcmp(e->p, p, n) != 0))) continue;
        if (out) gp_buf_append(out, e->p, e->n);
        gp__free(s->alloc_ctx, e->p, e->n + 1);
        memmove(s->pats + i, s->pats + i + 1, (s->npats - i - 1) * sizeof *s->pats);
        s->npats--;
        c->npats--;
        return 1;
    }
    return 0;
}

static void gp__cs_subreply(gp__cs_client *c, const char *kind, const uint8_t *name, size_t len, int null_name) {
    gp_buf *o = gp__cs_real_out(c);   /* a notification: CLIENT REPLY OFF does not silence it */
    gp_chan_put_agg(o, c->resp3 ? '>' : '*', 3);
    gp_chan_put_bulk(o, kind, strlen(kind));
    if (null_name) gp_chan_put_null(o, c->resp3);
    else gp_chan_put_bulk(o, name, len);
    gp_chan_put_int(o, (int64_t)gp__cs_count(c));
}

static int gp__cs_auth_ok(gp_chansrv *s, const gp_bytes *user, const gp_bytes *pass) {
    size_t pl;
    if (user && !(user->len == 7 && memcmp(user->ptr, "default", 7) == 0)) return 0;
    if (s->password == NULL) return 1;
    pl = strlen(s->password);
    return pass->len == pl && memcmp(pass->ptr, s->password, pl) == 0;
}

static void gp__cs_hello_reply(gp__cs_client *c) {
    gp_buf *o = &c->out;
    gp_chan_put_agg(o, c->resp3 ? '%' : '*', c->resp3 ? 7 : 14);
    gp__cs_bulkstr(c, "server"); gp__cs_bulkstr(c, "grouppush");
    gp__cs_bulkstr(c, "version"); gp__cs_bulkstr(c, GP_VERSION_STRING);
    gp__cs_bulkstr(c, "proto"); gp_chan_put_int(o, c->resp3 ? 3 : 2);
    gp__cs_bulkstr(c, "id"); gp_chan_put_int(o, (int64_t)c->id);
    gp__cs_bulkstr(c, "mode"); gp__cs_bulkstr(c, "standalone");
    gp__cs_bulkstr(c, "role"); gp__cs_bulkstr(c, "master");
    gp__cs_bulkstr(c, "modules"); gp_chan_put_agg(o, '*', 0);
}

static void gp__cs_unknown(gp__cs_client *c, size_t argc, const gp_bytes *argv) {
    char args[512];
    size_t i, al = 0;
    args[0] = '\0';
    for (i = 1; i < argc && al < 128; i++) {
        al += gp_fmt(args + al, sizeof args - al, "'%.*s' ", (int)GP__MIN(argv[i].len, 128 - al),
                     (const char *)argv[i].ptr);
    }
    gp__cs_err(c, "ERR unknown command '%.*s', with args beginning with: %s",
               (int)GP__MIN(argv[0].len, (size_t)128), (const char *)argv[0].ptr, args);
}

static void gp__cs_arity(gp__cs_client *c, const char *name) {
    gp__cs_err(c, "ERR wrong number of arguments for '%s' command", name);
}

static int gp__cs_is(const gp_bytes *a, const char *name) { return gp__ieq(a->ptr, a->len, name); }

/* The command table. A row is one command (or one subcommand of a container such as CLIENT):
   its lower-case name, its arity in Redis's convention (n: exactly n words, -n: at least n,
   the name included), its flags, its handler, and for COMMAND DOCS its group and summary.
   gp__cs_dispatch checks what the flags say, in Redis's order, before the handler runs:
   unknown command or subcommand, arity, authentication, the RESP2 subscribed context, MULTI
   queueing. Adding a command is adding a row. */
enum {
    GP__CS_NOAUTH  = 1,     /* runs before AUTH (AUTH, HELLO, QUIT, RESET) */
    GP__CS_SUBCTX  = 2,     /* allowed on a RESP2 connection that has subscriptions */
    GP__CS_OPENING = 4,     /* does not end the opening pipeline (grace replay) */
    GP__CS_NOQUEUE = 8,     /* runs at once inside MULTI instead of being queued */
    GP__CS_PUBSUB  = 16     /* COMMAND INFO flag "pubsub" */
};

typedef void (*gp__cs_handler)(gp__cs_client *c, size_t argc, gp_bytes *argv);
typedef struct gp__cs_cmd {
    const char *name;
    int arity;
    unsigned flags;
    gp__cs_handler run;
    const struct gp__cs_cmd *subs;   /* a container: its subcommands, ended by a NULL name */
    const char *group, *summary;
} gp__cs_cmd;
static const gp__cs_cmd *gp__cs_table(void);   /* the table, defined below its handlers */

static const gp__cs_cmd *gp__cs_lookup(const gp__cs_cmd *tab, const gp_bytes *name) {
    for (; tab->name; tab++) if (gp__cs_is(name, tab->name)) return tab;
    return NULL;
}

static int gp__cs_arity_ok(const gp__cs_cmd *k, size_t argc) {
    return k->arity > 0 ? argc == (size_t)k->arity : argc >= (size_t)-k->arity;
}

static void gp__cs_multi_discard(gp__cs_client *c);
static void gp__cs_cmd_exec(gp__cs_client *c, size_t argc, gp_bytes *argv);
/* The error written since out.len was at `mark` rejected command k before it ran. Inside
   MULTI that dooms the EXEC; a rejected EXEC itself ends the transaction and says why, as
   Redis does ("-EXECABORT Transaction discarded because of: <error>"). */
static void gp__cs_reject(gp__cs_client *c, const gp__cs_cmd *k, size_t mark) {
    if (c->multi) c->multi_dirty = 1;
    if (k && k->run == gp__cs_cmd_exec && c->out.len > mark + 3) {
        char why[512];
        size_t n = GP__MIN(c->out.len - mark - 3, sizeof why - 1);   /* without '-' and CRLF */
        memcpy(why, c->out.data + mark + 1, n);
        why[n] = '\0';
        if (strncmp(why, "ERR ", 4) == 0) memmove(why, why + 4, n - 3);   /* Redis keeps NOAUTH, drops ERR */
        c->out.len = mark;
        gp__cs_multi_discard(c);
        gp__cs_err(c, "EXECABORT Transaction discarded because of: %s", why);
    }
}

static void gp__cs_verbatim(gp__cs_client *c, const char *s, size_t n) {   /* RESP3 '=' txt, else bulk */
    if (!c->resp3) { gp_chan_put_bulk(&c->out, s, n); return; }
    gp__chan_head(&c->out, '=', n + 4, 0);
    gp_buf_append(&c->out, "txt:", 4);
    gp_buf_append(&c->out, s, n);
    gp_buf_append(&c->out, "\r\n", 2);
}

static void gp__cs_map(gp__cs_client *c, size_t pairs) { gp_chan_put_agg(&c->out, c->resp3 ? '%' : '*', c->resp3 ? pairs : 2 * pairs); }
static void gp__cs_set(gp__cs_client *c, size_t n) { gp_chan_put_agg(&c->out, c->resp3 ? '~' : '*', n); }
static void gp__cs_help(gp__cs_client *c, const char *const *lines) {
    size_t n = 0;
    while (lines[n]) n++;
    gp_chan_put_agg(&c->out, '*', n);
    for (n = 0; lines[n]; n++) gp_chan_put_simple(&c->out, '+', lines[n]);
}

static int gp__cs_name_ok(gp__cs_client *c, const gp_bytes *name) {
    size_t q;
    for (q = 0; q < name->len; q++)
        if (name->ptr[q] < '!' || name->ptr[q] > '~') {
            gp__cs_err(c, "ERR Client names cannot contain spaces, newlines or special characters.");
            return 0;
        }
    return 1;
}

static void gp__cs_set_str(gp__cs_client *c, char **dst, const gp_bytes *v) {   /* empty = none */
    gp__free(c->s->alloc_ctx, *dst, *dst ? strlen(*dst) + 1 : 0);
    *dst = NULL;
    if (v->len > 0 && (*dst = (char *)gp__malloc(c->s->alloc_ctx, v->len + 1)) != NULL) {
        memcpy(*dst, v->ptr, v->len);
        (*dst)[v->len] = '\0';
    }
}

/* ---- connection commands ---- */
static void gp__cs_cmd_ping(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* PING [message] */
    if (argc > 2) { gp__cs_arity(c, "ping"); return; }
    if (!c->resp3 && gp__cs_count(c) > 0) {
        gp_chan_put_agg(&c->out, '*', 2);
        gp__cs_bulkstr(c, "pong");
        gp_chan_put_bulk(&c->out, argc == 2 ? argv[1].ptr : (const uint8_t *)"", argc == 2 ? argv[1].len : 0);
    } else if (argc == 1) gp_chan_put_simple(&c->out, '+', "PONG");
    else gp_chan_put_bulk(&c->out, argv[1].ptr, argv[1].len);
}

static void gp__cs_cmd_echo(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc;
    gp_chan_put_bulk(&c->out, argv[1].ptr, argv[1].len);
}

static void gp__cs_cmd_auth(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* AUTH [username] password */
    gp_chansrv *s = c->s;
    if (argc > 3) { gp__cs_err(c, "ERR syntax error"); return; }
    if (s->password == NULL && argc == 2) {
        gp__cs_err(c, "ERR AUTH <password> called without any password configured for the default user. "
                      "Are you sure your configuration is correct?");
        return;
    }
    if (!gp__cs_auth_ok(s, argc == 3 ? &argv[1] : NULL, &argv[argc - 1])) {
        gp__cs_err(c, "WRONGPASS invalid username-password pair or user is disabled.");
        return;
    }
    c->authed = 1;
    gp_chan_put_simple(&c->out, '+', "OK");
}

/* HELLO [protover [AUTH username password] [SETNAME clientname]] */
static void gp__cs_cmd_hello(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    int64_t ver = c->resp3 ? 3 : 2;
    size_t j;
    const gp_bytes *setname = NULL;
    if (argc >= 2) {
        if (gp__parse_i64(argv[1].ptr, argv[1].len, &ver) != 0) {
            gp__cs_err(c, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (ver < 2 || ver > 3) { gp__cs_err(c, "NOPROTO unsupported protocol version"); return; }
    }
    for (j = 2; j < argc; j++) {
        if (gp__cs_is(&argv[j], "auth") && j + 2 < argc) {
            if (!gp__cs_auth_ok(s, &argv[j + 1], &argv[j + 2])) {
                gp__cs_err(c, "WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            c->authed = 1;
            j += 2;
        } else if (gp__cs_is(&argv[j], "setname") && j + 1 < argc) {
            setname = &argv[++j];
            if (!gp__cs_name_ok(c, setname)) return;
        } else {
            gp__cs_err(c, "ERR Syntax error in HELLO option '%.*s'", (int)GP__MIN(argv[j].len, (size_t)128),
                       (const char *)argv[j].ptr);
            return;
        }
    }
    if (!c->authed) {
        gp__cs_err(c, "NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                      "HELLO AUTH <user> <pass> option can be used to authenticate the client and "
                      "select the RESP protocol version at the same time");
        return;
    }
    if (setname) gp__cs_set_str(c, &c->name, setname);
    c->resp3 = ver == 3;
    gp__cs_hello_reply(c);
}

static void gp__cs_cmd_quit(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc; (void)argv;
    gp_chan_put_simple(&c->out, '+', "OK");
    c->quit = 1;
}

static void gp__cs_cmd_select(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* one database: 0 */
    int64_t db;
    (void)argc;
    const uint8_t *p = argv[1].ptr;
    size_t n = argv[1].len, neg = n > 0 && p[0] == '-';
    if (gp__parse_i64(p, n, &db) != 0 || (n > neg + 1 && p[neg] == '0') || (neg && n == 2 && p[1] == '0'))
        gp__cs_err(c, "ERR value is not an integer or out of range");   /* Redis's strict form: no 00, -0 */
    else if (db < INT_MIN || db > INT_MAX)
        gp__cs_err(c, "ERR value is out of range, value must between -2147483648 and 2147483647");
    else if (db != 0) gp__cs_err(c, "ERR DB index is out of range");
    else gp_chan_put_simple(&c->out, '+', "OK");
}

static void gp__cs_multi_discard(gp__cs_client *c) {
    gp_buf_free(&c->mq);
    c->mq_count = 0;
    c->multi = c->multi_dirty = 0;
}

/* RESET: the state of a new connection (RESP2, no subscription, no transaction, no name,
   not authenticated when a password is set), without notifications. */
static void gp__cs_cmd_reset(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    (void)argc; (void)argv;
    gp__cs_multi_discard(c);
    while (c->nchans > 0) { gp__cs_channel *ch = c->chans[--c->nchans]; gp__cs_chan_drop(s, ch, c); }
    while (c->npats > 0) gp__cs_punsubscribe(c, NULL, 0, NULL);
    c->resp3 = 0;
    gp__free(s->alloc_ctx, c->name, c->name ? strlen(c->name) + 1 : 0);
    c->name = NULL;
    c->authed = s->password == NULL;
    gp_chan_put_simple(&c->out, '+', "RESET");
}

/* ---- pub/sub ---- */
static void gp__cs_subscribe_all(gp__cs_client *c, size_t argc, const gp_bytes *argv, int pat) {
    gp_chansrv *s = c->s;
    size_t pat_from = s->npats, i;
    for (i = 1; i < argc; i++) {
        int rc = pat ? gp__cs_psubscribe(c, argv[i].ptr, argv[i].len) : gp__cs_subscribe(c, argv[i].ptr, argv[i].len);
        if (rc < 0) { gp__cs_kill(c, "out of memory"); return; }
        gp__cs_subreply(c, pat ? "psubscribe" : "subscribe", argv[i].ptr, argv[i].len, 0);
    }
    gp__cs_grace_replay(c, pat, pat_from);   /* after all the confirmations */
}

static void gp__cs_cmd_subscribe(gp__cs_client *c, size_t argc, gp_bytes *argv) { gp__cs_subscribe_all(c, argc, argv, 0); }
static void gp__cs_cmd_psubscribe(gp__cs_client *c, size_t argc, gp_bytes *argv) { gp__cs_subscribe_all(c, argc, argv, 1); }
static void gp__cs_cmd_unsubscribe(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [channel ...] */
    size_t i;
    if (argc == 1) {
        if (c->nchans == 0) { gp__cs_subreply(c, "unsubscribe", NULL, 0, 1); return; }
        while (c->nchans > 0) {
            gp__cs_channel *ch = c->chans[0];
            gp_buf nm;
            memset(&nm, 0, sizeof nm);
            nm.alloc_ctx = c->s->alloc_ctx;
            gp_buf_append(&nm, ch->name, ch->len);
            gp__cs_unsubscribe(c, ch->name, ch->len);
            gp__cs_subreply(c, "unsubscribe", nm.data, nm.len, 0);
            gp_buf_free(&nm);
        }
        return;
    }
    for (i = 1; i < argc; i++) {
        gp__cs_unsubscribe(c, argv[i].ptr, argv[i].len);
        gp__cs_subreply(c, "unsubscribe", argv[i].ptr, argv[i].len, 0);
    }
}

static void gp__cs_cmd_punsubscribe(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [pattern ...] */
    size_t i;
    if (argc == 1) {
        if (c->npats == 0) { gp__cs_subreply(c, "punsubscribe", NULL, 0, 1); return; }
        while (c->npats > 0) {
            gp_buf nm;
            memset(&nm, 0, sizeof nm);
            nm.alloc_ctx = c->s->alloc_ctx;
            gp__cs_punsubscribe(c, NULL, 0, &nm);
            gp__cs_subreply(c, "punsubscribe", nm.data, nm.len, 0);
            gp_buf_free(&nm);
        }
        return;
    }
    for (i = 1; i < argc; i++) {
        gp__cs_punsubscribe(c, argv[i].ptr, argv[i].len, NULL);
        gp__cs_subreply(c, "punsubscribe", argv[i].ptr, argv[i].len, 0);
    }
}

static void gp__cs_cmd_publish(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc;
    gp_chan_put_int(&c->out, (int64_t)gp__cs_publish(c->s, argv[1].ptr, argv[1].len, argv[2].ptr, argv[2].len));
}

static void gp__cs_cmd_pubsub_channels(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [pattern] */
    gp_chansrv *s = c->s;
    size_t b, n = 0;
    gp__cs_channel *ch;
    if (argc > 3) {
        gp__cs_err(c, "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try PUBSUB HELP.",
                   (int)GP__MIN(argv[1].len, (size_t)128), (const char *)argv[1].ptr);
        return;
    }
    for (b = 0; b < s->ct_size; b++)
        for (ch = s->ct[b]; ch; ch = ch->hnext)
            if (argc == 2 || gp_chan_glob_match(argv[2].ptr, argv[2].len, ch->name, ch->len)) n++;
    gp_chan_put_agg(&c->out, '*', n);
    for (b = 0; b < s->ct_size; b++)
        for (ch = s->ct[b]; ch; ch = ch->hnext)
            if (argc == 2 || gp_chan_glob_match(argv[2].ptr, argv[2].len, ch->name, ch->len))
                gp_chan_put_bulk(&c->out, ch->name, ch->len);
}

static void gp__cs_cmd_pubsub_numsub(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [channel ...] */
    size_t i;
    gp_chan_put_agg(&c->out, '*', (argc - 2) * 2);   /* an array in RESP3 too, as Redis 7 */
    for (i = 2; i < argc; i++) {
        gp__cs_channel *ch = gp__cs_find(c->s, argv[i].ptr, argv[i].len);
        gp_chan_put_bulk(&c->out, argv[i].ptr, argv[i].len);
        gp_chan_put_int(&c->out, ch ? (int64_t)ch->nsubs : 0);
    }
}

static void gp__cs_cmd_pubsub_numpat(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    size_t a, b, uniq = 0;
    (void)argc; (void)argv;
    for (a = 0; a < s->npats; a++) {
        for (b = 0; b < a; b++)
            if (s->pats[b].n == s->pats[a].n && memcmp(s->pats[b].p, s->pats[a].p, s->pats[a].n) == 0) break;
        if (b == a) uniq++;
    }
    gp_chan_put_int(&c->out, (int64_t)uniq);
}

static void gp__cs_cmd_pubsub_help(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    static const char *const lines[] = {
        "PUBSUB <subcommand> [<arg> ...]. Subcommands of this pub/sub-only server:",
        "CHANNELS [<pattern>]", "    The channels that have subscribers (matching the glob <pattern>).",
        "NUMSUB [<channel> ...]", "    The subscriber count of each channel.",
        "NUMPAT", "    The number of distinct subscribed patterns.",
        "HELP", "    This text.", NULL };
    (void)argc; (void)argv;
    gp__cs_help(c, lines);
}

/* ---- transactions: MULTI queues, EXEC runs the queue in order with nothing in between ---- */
static void gp__cs_cmd_multi(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc; (void)argv;
    if (c->multi) { gp__cs_err(c, "ERR MULTI calls can not be nested"); return; }
    c->multi = 1;
    gp_chan_put_simple(&c->out, '+', "OK");
}

static void gp__cs_cmd_discard(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc; (void)argv;
    if (!c->multi) { gp__cs_err(c, "ERR DISCARD without MULTI"); return; }
    gp__cs_multi_discard(c);
    gp_chan_put_simple(&c->out, '+', "OK");
}

/* Queue entry: the row (a pointer), argc, then each argument as (size_t length, bytes). */
static void gp__cs_multi_queue(gp__cs_client *c, const gp__cs_cmd *k, size_t argc, const gp_bytes *argv) {
    size_t i, need = sizeof k + sizeof argc;
    gp_buf *q = &c->mq;
    for (i = 0; i < argc; i++) need += sizeof argv[i].len + argv[i].len;
    if (c->multi_dirty) { gp_chan_put_simple(&c->out, '+', "QUEUED"); return; }   /* doomed: keep nothing */
    if (need > c->s->cfg.max_queued || q->len > c->s->cfg.max_queued - need) {
        gp__cs_err(c, "ERR MULTI queue over %lu bytes (max_queued)", (unsigned long)c->s->cfg.max_queued);
        gp__cs_reject(c, NULL, 0);
        gp_buf_free(q);
        return;
    }
    if (gp_buf_reserve(q, need) != GP_OK) { gp__cs_kill(c, "out of memory"); return; }
    memcpy(q->data + q->len, &k, sizeof k); q->len += sizeof k;
    memcpy(q->data + q->len, &argc, sizeof argc); q->len += sizeof argc;
    for (i = 0; i < argc; i++) {
        memcpy(q->data + q->len, &argv[i].len, sizeof argv[i].len); q->len += sizeof argv[i].len;
        memcpy(q->data + q->len, argv[i].ptr, argv[i].len); q->len += argv[i].len;
    }
    c->mq_count++;
    gp_chan_put_simple(&c->out, '+', "QUEUED");
}

static void gp__cs_cmd_exec(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    gp_buf q;
    size_t n, i, pos = 0;
    (void)argc; (void)argv;
    if (!c->multi) { gp__cs_err(c, "ERR EXEC without MULTI"); return; }
    if (c->multi_dirty) {
        gp__cs_multi_discard(c);
        gp_chan_put_simple(&c->out, '-', "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    q = c->mq;   /* taken over: the commands run outside the MULTI state */
    n = c->mq_count;
    memset(&c->mq, 0, sizeof c->mq);
    c->mq.alloc_ctx = s->alloc_ctx;
    gp__cs_multi_discard(c);
    gp_chan_put_agg(&c->out, '*', n);
    for (i = 0; i < n && !c->dead; i++) {
        const gp__cs_cmd *k;
        size_t xargc, j;
        memcpy(&k, q.data + pos, sizeof k); pos += sizeof k;
        memcpy(&xargc, q.data + pos, sizeof xargc); pos += sizeof xargc;
        if (gp__grow(s->alloc_ctx, (void **)&s->xargv, &s->xargv_cap, xargc, sizeof *s->xargv) != GP_OK) {
            gp__cs_kill(c, "out of memory");
            break;
        }
        for (j = 0; j < xargc; j++) {
            memcpy(&s->xargv[j].len, q.data + pos, sizeof s->xargv[j].len); pos += sizeof s->xargv[j].len;
            s->xargv[j].ptr = q.data + pos; pos += s->xargv[j].len;
        }
        s->cmd_seq++;
        k->run(c, xargc, s->xargv);
    }
    gp_buf_free(&q);
}

static void gp__cs_cmd_watch(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* no keys: never aborts EXEC */
    (void)argc; (void)argv;
    if (c->multi) { gp__cs_err(c, "ERR WATCH inside MULTI is not allowed"); return; }
    gp_chan_put_simple(&c->out, '+', "OK");
}

static void gp__cs_cmd_ok(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* UNWATCH */
    (void)argc; (void)argv;
    gp_chan_put_simple(&c->out, '+', "OK");
}

/* ---- CLIENT ---- */
static void gp__cs_cmd_client_setname(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc;
    if (!gp__cs_name_ok(c, &argv[2])) return;
    gp__cs_set_str(c, &c->name, &argv[2]);
    gp_chan_put_simple(&c->out, '+', "OK");
}

static void gp__cs_cmd_client_getname(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc; (void)argv;
    if (c->name) gp__cs_bulkstr(c, c->name);
    else gp_chan_put_null(&c->out, c->resp3);
}

static void gp__cs_cmd_client_id(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc; (void)argv;
    gp_chan_put_int(&c->out, (int64_t)c->id);
}

/* CLIENT REPLY ON|OFF|SKIP: OFF silences every reply from now on, SKIP the next command's;
   pushes (messages, (un)subscribe notifications) still go out; ON answers OK. */
static void gp__cs_cmd_client_reply(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc;
    if (gp__cs_is(&argv[2], "on")) {
        c->reply_off = c->skip_next = 0;
        gp_chan_put_simple(gp__cs_real_out(c), '+', "OK");
    } else if (gp__cs_is(&argv[2], "off")) {
        c->reply_off = 1;
    } else if (gp__cs_is(&argv[2], "skip")) {
        if (!c->reply_off) c->skip_next = 1;
    } else {
        gp__cs_err(c, "ERR syntax error");
    }
}

/* CLIENT SETINFO LIB-NAME|LIB-VER value (what Redis 7.2 clients send when they connect) */
static void gp__cs_cmd_client_setinfo(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    int name = gp__cs_is(&argv[2], "lib-name");
    size_t q;
    (void)argc;
    if (!name && !gp__cs_is(&argv[2], "lib-ver")) {
        gp__cs_err(c, "ERR Unrecognized option '%.*s'", (int)GP__MIN(argv[2].len, (size_t)128), (const char *)argv[2].ptr);
        return;
    }
    for (q = 0; q < argv[3].len; q++)
        if (argv[3].ptr[q] < '!' || argv[3].ptr[q] > '~') {
            gp__cs_err(c, "ERR %s cannot contain spaces, newlines or special characters.", name ? "lib-name" : "lib-ver");
            return;
        }
    gp__cs_set_str(c, name ? &c->lib_name : &c->lib_ver, &argv[3]);
    gp_chan_put_simple(&c->out, '+', "OK");
}

/* One CLIENT LIST line: Redis 7.2's fields in Redis's order (clients such as redis-py's
   client_info() index them by name), with this server's values: one flat input buffer and
   a queue of shared frames per client (rbs = qbuf + qbuf-free, obl = replies being built,
   omem = bytes queued, oll = 0), no argument vector kept (argv-mem = 0).
   The free-form strings are appended whole, never cut by a fixed buffer. */
static void gp__cs_client_line(gp__cs_client *me, const gp__cs_client *c, gp_buf *b) {
    char addr[80], laddr[80], line[640];
    uint64_t now = gp_loop_now(me->s->loop);
    size_t mem = sizeof *c + c->in.cap + c->out.cap + c->st.qbytes + c->mq.cap + c->chans_cap * sizeof *c->chans;
    gp__net_addr(c->st.fd, 1, addr, sizeof addr);
    gp__net_addr(c->st.fd, 0, laddr, sizeof laddr);
    gp_fmt(line, sizeof line, "id=%llu addr=%s laddr=%s fd=%d name=", (unsigned long long)c->id, addr, laddr, c->st.fd);
    gp_buf_append(b, line, strlen(line));
    if (c->name) gp_buf_append(b, c->name, strlen(c->name));
    gp_fmt(line, sizeof line,
             " age=%llu idle=%llu flags=%s db=0 sub=%lu psub=%lu ssub=0 multi=%ld qbuf=%lu qbuf-free=%lu "
             "argv-mem=0 multi-mem=%lu rbs=%lu rbp=%lu obl=%lu oll=0 omem=%lu tot-mem=%lu events=r cmd=%s%s%s "
             "user=default redir=-1 resp=%d lib-name=",
             (unsigned long long)((now - c->created_ms) / 1000), (unsigned long long)((now - c->last_ms) / 1000),
             c->multi ? "x" : gp__cs_count(c) ? "P" : "N", (unsigned long)c->nchans, (unsigned long)c->npats,
             c->multi ? (long)c->mq_count : -1L, (unsigned long)c->in.len, (unsigned long)(c->in.cap - c->in.len),
             (unsigned long)c->mq.cap, (unsigned long)c->in.cap, (unsigned long)c->in.cap,
             (unsigned long)c->out.len, (unsigned long)c->st.qbytes, (unsigned long)mem,
             c->last_cmd ? c->last_cmd : "NULL", c->last_sub ? "|" : "", c->last_sub ? c->last_sub : "",
             c->resp3 ? 3 : 2);
    gp_buf_append(b, line, strlen(line));
    if (c->lib_name) gp_buf_append(b, c->lib_name, strlen(c->lib_name));
    gp_buf_append(b, " lib-ver=", 9);
    if (c->lib_ver) gp_buf_append(b, c->lib_ver, strlen(c->lib_ver));
    gp_buf_append(b, "\n", 1);
}

static void gp__cs_cmd_client_list(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [TYPE t] [ID id ...] */
    gp_chansrv *s = c->s;
    gp_buf b;
    size_t i, j;
    int type = 0;   /* 1 normal, 2 pubsub */
    memset(&b, 0, sizeof b);
    b.alloc_ctx = s->alloc_ctx;
    if (argc == 4 && gp__cs_is(&argv[2], "type")) {
        if (gp__cs_is(&argv[3], "normal")) type = 1;
        else if (gp__cs_is(&argv[3], "pubsub")) type = 2;
        else if (!gp__cs_is(&argv[3], "master") && !gp__cs_is(&argv[3], "replica") && !gp__cs_is(&argv[3], "slave")) {
            gp__cs_err(c, "ERR Unknown client type '%.*s'", (int)GP__MIN(argv[3].len, (size_t)128), (const char *)argv[3].ptr);
            return;
        } else type = 3;   /* no such clients here */
    } else if (argc > 3 && gp__cs_is(&argv[2], "id")) {
        for (j = 3; j < argc; j++) {
            int64_t id;
            if (gp__parse_i64(argv[j].ptr, argv[j].len, &id) != 0 || id <= 0) {
                gp__cs_err(c, "ERR Invalid client ID");
                return;
            }
        }
    } else if (argc != 2) { gp__cs_err(c, "ERR syntax error"); return; }
    for (i = 0; i < s->nclients; i++) {
        const gp__cs_client *o = s->clients[i];
        if (o->dead || type == 3) continue;
        if (type && (type == 2) != (gp__cs_count(o) > 0)) continue;
        if (argc > 3 && gp__cs_is(&argv[2], "id")) {
            for (j = 3; j < argc; j++) {
                int64_t id = 0;
                gp__parse_i64(argv[j].ptr, argv[j].len, &id);
                if ((uint64_t)id == o->id) break;
            }
            if (j == argc) continue;
        }
        gp__cs_client_line(c, o, &b);
    }
    gp__cs_verbatim(c, b.data ? (const char *)b.data : "", b.len);
    gp_buf_free(&b);
}

static void gp__cs_cmd_client_info(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_buf b;
    (void)argc; (void)argv;
    memset(&b, 0, sizeof b);
    b.alloc_ctx = c->s->alloc_ctx;
    gp__cs_client_line(c, c, &b);
    gp__cs_verbatim(c, b.data ? (const char *)b.data : "", b.len);
    gp_buf_free(&b);
}

static void gp__cs_cmd_client_help(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> ...]. Subcommands of this pub/sub-only server:",
        "ID", "    This connection's id.",
        "INFO", "    This connection, as one CLIENT LIST line.",
        "LIST [TYPE NORMAL|PUBSUB] [ID <id> ...]", "    Every connection, one line each.",
        "GETNAME", "    This connection's name, or a null.",
        "SETNAME <name>", "    Name this connection (no spaces); an empty name removes it.",
        "SETINFO LIB-NAME|LIB-VER <value>", "    The client library's name or version, shown by LIST.",
        "REPLY ON|OFF|SKIP", "    Replies back on; off (pushes still come); off for the next command only.",
        "HELP", "    This text.", NULL };
    (void)argc; (void)argv;
    gp__cs_help(c, lines);
}

/* ---- server ---- */
/* INFO [section ...]: Redis's "# Section" / "field:value" text. The server claims
   redis_version 7.0.0, the Redis whose pub/sub it follows, so clients' feature checks pass. */
static void gp__cs_cmd_info(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    static const char *const names[] = { "server", "clients", "memory", "persistence", "stats",
                                         "replication", "keyspace", NULL };
    gp_chansrv *s = c->s;
    gp_buf b;
    size_t i, j, subs = 0, nsec = 0;
    uint64_t up = (gp_loop_now(s->loop) - s->started_ms) / 1000;
    memset(&b, 0, sizeof b);
    b.alloc_ctx = s->alloc_ctx;
    for (i = 0; i < s->nclients; i++) if (gp__cs_count(s->clients[i]) > 0) subs++;
    for (i = 0; names[i]; i++) {
        int want = argc == 1;
        for (j = 1; j < argc && !want; j++)
            want = gp__cs_is(&argv[j], names[i]) || gp__cs_is(&argv[j], "all") ||
                   gp__cs_is(&argv[j], "default") || gp__cs_is(&argv[j], "everything");
        if (!want) continue;
        if (nsec++) gp_buf_append(&b, "\r\n", 2);
        switch (i) {
        case 0:
            gp__buf_printf(&b, "# Server\r\n");
            gp__buf_printf(&b, "redis_version:7.0.0\r\n");
            gp__buf_printf(&b, "grouppush_version:%s\r\n", GP_VERSION_STRING);
            gp__buf_printf(&b, "redis_mode:standalone\r\n");
            gp__buf_printf(&b, "arch_bits:%d\r\n", (int)(sizeof(void *) * 8));
            gp__buf_printf(&b, "multiplexing_api:%s\r\n", gp_loop_backend(s->loop));
            gp__buf_printf(&b, "process_id:%ld\r\n", (long)getpid());
            gp__buf_printf(&b, "tcp_port:%d\r\n", s->lfd >= 0 ? gp_net_local_port(s->lfd) : 0);
            gp__buf_printf(&b, "uptime_in_seconds:%llu\r\n", (unsigned long long)up);
            gp__buf_printf(&b, "uptime_in_days:%llu\r\n", (unsigned long long)(up / 86400));
            break;
        case 1:
            gp__buf_printf(&b, "# Clients\r\n");
            gp__buf_printf(&b, "connected_clients:%lu\r\n", (unsigned long)s->nclients);
            gp__buf_printf(&b, "maxclients:%lu\r\n", (unsigned long)s->cfg.max_clients);
            gp__buf_printf(&b, "blocked_clients:0\r\n");
            gp__buf_printf(&b, "pubsub_clients:%lu\r\n", (unsigned long)subs);
            break;
        case 2: {
            uint64_t rss = gp__rss_kb((int)getpid()) * 1024u;
            gp__buf_printf(&b, "# Memory\r\n");
            gp__buf_printf(&b, "used_memory:%lu\r\n", (unsigned long)rss);   /* no allocator count: the RSS */
            gp__buf_printf(&b, "used_memory_rss:%lu\r\n", (unsigned long)rss);
            gp__buf_printf(&b, "maxmemory:0\r\n");
            gp__buf_printf(&b, "maxmemory_policy:noeviction\r\n");
            break;
        }
        case 3:
            gp__buf_printf(&b, "# Persistence\r\n");
            gp__buf_printf(&b, "loading:0\r\n");
            gp__buf_printf(&b, "async_loading:0\r\n");
            gp__buf_printf(&b, "rdb_changes_since_last_save:0\r\n");
            gp__buf_printf(&b, "aof_enabled:0\r\n");
            break;
        case 4:
            gp__buf_printf(&b, "# Stats\r\n");
            gp__buf_printf(&b, "total_connections_received:%llu\r\n", (unsigned long long)s->next_id);
            gp__buf_printf(&b, "total_commands_processed:%llu\r\n", (unsigned long long)s->st.commands);
            gp__buf_printf(&b, "total_net_input_bytes:%llu\r\n", (unsigned long long)s->st.bytes_in);
            gp__buf_printf(&b, "total_net_output_bytes:%llu\r\n", (unsigned long long)s->st.bytes_out);
            gp__buf_printf(&b, "rejected_connections:%llu\r\n", (unsigned long long)s->st.rejected);
            gp__buf_printf(&b, "pubsub_channels:%lu\r\n", (unsigned long)s->nchannels);
            gp__buf_printf(&b, "pubsub_patterns:%lu\r\n", (unsigned long)s->npats);
            gp__buf_printf(&b, "grouppush_published:%llu\r\n", (unsigned long long)s->st.published);
            gp__buf_printf(&b, "grouppush_delivered:%llu\r\n", (unsigned long long)s->st.delivered);
            gp__buf_printf(&b, "grouppush_dropped_clients:%llu\r\n", (unsigned long long)s->st.dropped_clients);
            gp__buf_printf(&b, "grouppush_graced:%llu\r\n", (unsigned long long)s->st.graced);
            break;
        case 5:
            gp__buf_printf(&b, "# Replication\r\n");
            gp__buf_printf(&b, "role:master\r\n");
            gp__buf_printf(&b, "connected_slaves:0\r\n");
            break;
        default:
            gp__buf_printf(&b, "# Keyspace\r\n");   /* no keys: a pub/sub-only server */
            break;
        }
    }
    gp__cs_verbatim(c, b.data ? (const char *)b.data : "", b.len);
    gp_buf_free(&b);
}

/* CONFIG GET parameter [parameter ...]: the few settings clients ask for, glob-matched. */
static void gp__cs_cmd_config_get(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    char maxcl[24], bulk[24], port[16], cobl[96];
    const char *kv[][2] = {
        { "databases", "1" }, { "maxclients", maxcl }, { "maxmemory", "0" },
        { "maxmemory-policy", "noeviction" }, { "save", "" }, { "appendonly", "no" }, { "timeout", "0" },
        { "proto-max-bulk-len", bulk }, { "port", port }, { "client-output-buffer-limit", cobl },
        { "notify-keyspace-events", "" }, { "cluster-enabled", "no" }
    };
    const gp_bytes *asked[sizeof kv / sizeof kv[0]];   /* an exact name is answered as it was asked */
    size_t i, j, n = 0, nkv = sizeof kv / sizeof kv[0];
    unsigned hit = 0;
    gp_fmt(maxcl, sizeof maxcl, "%lu", (unsigned long)s->cfg.max_clients);
    gp_fmt(bulk, sizeof bulk, "%llu", (unsigned long long)s->cfg.max_bulk);
    gp_fmt(port, sizeof port, "%d", s->lfd >= 0 ? gp_net_local_port(s->lfd) : 0);
    gp_fmt(cobl, sizeof cobl, "normal 0 0 0 slave 0 0 0 pubsub %lu %lu 0", (unsigned long)s->cfg.max_output,
             (unsigned long)s->cfg.max_output);
    for (j = 2; j < argc; j++) {
        uint8_t pat[128];
        size_t q, pl = GP__MIN(argv[j].len, sizeof pat);
        int glob = 0;
        if (argv[j].len > sizeof pat) continue;   /* longer than any name: matches none */
        for (q = 0; q < pl; q++) glob |= argv[j].ptr[q] == '*' || argv[j].ptr[q] == '?' || argv[j].ptr[q] == '[';
        for (q = 0; q < pl; q++) pat[q] = (uint8_t)((argv[j].ptr[q] >= 'A' && argv[j].ptr[q] <= 'Z') ? argv[j].ptr[q] + 32 : argv[j].ptr[q]);
        for (i = 0; i < nkv; i++) {
            int m = glob ? gp_chan_glob_match(pat, pl, (const uint8_t *)kv[i][0], strlen(kv[i][0]))
                         : gp__ieq(argv[j].ptr, argv[j].len, kv[i][0]);
            if (!m || (hit & (1u << i))) continue;
            hit |= 1u << i;
            asked[i] = glob ? NULL : &argv[j];
            n++;
        }
    }
    gp__cs_map(c, n);
    for (i = 0; i < nkv; i++) {
        if (!(hit & (1u << i))) continue;
        if (asked[i]) gp_chan_put_bulk(&c->out, asked[i]->ptr, asked[i]->len);
        else gp__cs_bulkstr(c, kv[i][0]);
        gp__cs_bulkstr(c, kv[i][1]);
    }
}

static void gp__cs_cmd_config_help(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> ...]. Subcommands of this pub/sub-only server:",
        "GET <pattern> [<pattern> ...]", "    The settings whose names match, as name/value pairs (read only).",
        "HELP", "    This text.", NULL };
    (void)argc; (void)argv;
    gp__cs_help(c, lines);
}

static size_t gp__cs_ntab(const gp__cs_cmd *t) { size_t n = 0; while (t[n].name) n++; return n; }
static void gp__cs_fullname(const gp__cs_cmd *parent, const gp__cs_cmd *k, char *out, size_t cap) {
    if (parent) gp_fmt(out, cap, "%s|%s", parent->name, k->name);
    else gp_fmt(out, cap, "%s", k->name);
}

/* One COMMAND INFO entry, Redis 7's ten fields; no command here has keys. */
static void gp__cs_command_entry(gp__cs_client *c, const gp__cs_cmd *parent, const gp__cs_cmd *k) {
    char full[64];
    size_t nf = 0, i;
    unsigned f = k->flags;
    gp__cs_fullname(parent, k, full, sizeof full);
    gp_chan_put_agg(&c->out, '*', 10);
    gp__cs_bulkstr(c, full);
    gp_chan_put_int(&c->out, k->arity);
    nf = (size_t)!!(f & GP__CS_NOAUTH) + (size_t)!!(f & GP__CS_PUBSUB);
    gp__cs_set(c, nf);
    if (f & GP__CS_NOAUTH) gp_chan_put_simple(&c->out, '+', "no_auth");
    if (f & GP__CS_PUBSUB) gp_chan_put_simple(&c->out, '+', "pubsub");
    gp_chan_put_int(&c->out, 0);
    gp_chan_put_int(&c->out, 0);
    gp_chan_put_int(&c->out, 0);
    gp__cs_set(c, 1);
    gp_chan_put_simple(&c->out, '+', strcmp(k->group, "pubsub") == 0 ? "@pubsub" :
                       strcmp(k->group, "transactions") == 0 ? "@transaction" : "@connection");
    gp__cs_set(c, 0);
    gp_chan_put_agg(&c->out, '*', 0);
    gp_chan_put_agg(&c->out, '*', k->subs ? gp__cs_ntab(k->subs) : 0);
    for (i = 0; k->subs && k->subs[i].name; i++) gp__cs_command_entry(c, k, &k->subs[i]);
}

static void gp__cs_command_doc(gp__cs_client *c, const gp__cs_cmd *parent, const gp__cs_cmd *k) {
    char full[64];
    size_t i;
    gp__cs_fullname(parent, k, full, sizeof full);
    gp__cs_bulkstr(c, full);
    gp__cs_map(c, k->subs ? 3 : 2);
    gp__cs_bulkstr(c, "summary"); gp__cs_bulkstr(c, k->summary);
    gp__cs_bulkstr(c, "group"); gp__cs_bulkstr(c, k->group);
    if (k->subs) {
        gp__cs_bulkstr(c, "subcommands");
        gp__cs_map(c, gp__cs_ntab(k->subs));
        for (i = 0; k->subs[i].name; i++) gp__cs_command_doc(c, k, &k->subs[i]);
    }
}

static void gp__cs_cmd_command(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* COMMAND: every entry */
    size_t i;
    (void)argc; (void)argv;
    gp_chan_put_agg(&c->out, '*', gp__cs_ntab(gp__cs_table()));
    for (i = 0; gp__cs_table()[i].name; i++) gp__cs_command_entry(c, NULL, &gp__cs_table()[i]);
}

static void gp__cs_cmd_command_count(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    (void)argc; (void)argv;
    gp_chan_put_int(&c->out, (int64_t)gp__cs_ntab(gp__cs_table()));
}

static void gp__cs_cmd_command_list(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    size_t i;
    (void)argc; (void)argv;
    gp_chan_put_agg(&c->out, '*', gp__cs_ntab(gp__cs_table()));
    for (i = 0; gp__cs_table()[i].name; i++) gp__cs_bulkstr(c, gp__cs_table()[i].name);
}

static void gp__cs_cmd_command_info(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [name ...] */
    size_t i;
    if (argc == 2) { gp__cs_cmd_command(c, argc, argv); return; }
    gp_chan_put_agg(&c->out, '*', argc - 2);
    for (i = 2; i < argc; i++) {
        const gp__cs_cmd *k = gp__cs_lookup(gp__cs_table(), &argv[i]);
        if (k) gp__cs_command_entry(c, NULL, k);
        else gp_chan_put_null(&c->out, c->resp3);
    }
}

static void gp__cs_cmd_command_docs(gp__cs_client *c, size_t argc, gp_bytes *argv) {   /* [name ...] */
    size_t i, n = 0;
    if (argc == 2) {
        gp__cs_map(c, gp__cs_ntab(gp__cs_table()));
        for (i = 0; gp__cs_table()[i].name; i++) gp__cs_command_doc(c, NULL, &gp__cs_table()[i]);
        return;
    }
    for (i = 2; i < argc; i++) n += gp__cs_lookup(gp__cs_table(), &argv[i]) != NULL;
    gp__cs_map(c, n);
    for (i = 2; i < argc; i++) {
        const gp__cs_cmd *k = gp__cs_lookup(gp__cs_table(), &argv[i]);
        if (k) gp__cs_command_doc(c, NULL, k);
    }
}

static void gp__cs_cmd_command_help(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    static const char *const lines[] = {
        "COMMAND [<subcommand> [<arg> ...]]. Without a subcommand: every command's entry.",
        "COUNT", "    The number of commands.",
        "DOCS [<name> ...]", "    Summary, group and subcommands of each command.",
        "INFO [<name> ...]", "    The entry of each command (a null for an unknown name).",
        "LIST", "    The command names.",
        "HELP", "    This text.", NULL };
    (void)argc; (void)argv;
    gp__cs_help(c, lines);
}

/* ---- the group store: the built-in side of GP_CHAN_SCRIPT_PUBLISH / _HISTORY. One shared
   anonymous mapping: a header, a tag array (hash and last use of every group slot, 8 slots
   a bucket), the group slots (name, epoch, top offset, and the ring position of each of the
   last `depth` offsets) and a byte ring of entries (header + payload, 8-aligned, never
   split at the ring's end). Crash-safe with one writer at a time: a publish first moves the
   ring's write position past the entry it is about to write (what it overwrites is dead at
   once), then writes the entry, then its position, then the group's top offset (the commit).
   A reader checks each entry (inside the live part of the ring, its slot, the slot's
   generation and the offset), so what a killed writer left half done is never served. ---- */
#define GP__HS_MAGIC 0x3174736870677067ull   /* "gpghst1" */
#define GP__HS_WAYS 8
#define GP__HS_NAME 240
#if defined(__GNUC__) || defined(__clang__)
#  define GP__BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#  define GP__BARRIER() do { } while (0)   /* stores through the volatile pointers below keep their order */
#endif
typedef struct gp__hs_hdr {
    uint64_t magic, wpos, epochs, ring_size, nslots, depth, slot_size;
    char base[16];              /* this store's random part of every epoch */
} gp__hs_hdr;
typedef struct gp__hs_tag { uint32_t hash, used; uint64_t used_ms; } gp__hs_tag;
typedef struct gp__hs_group {
    uint64_t top;               /* last offset given, 0 = none yet */
    uint64_t pub_ms, ttl_ms;    /* last publish, history ttl of that publish (0 = none) */
    uint32_t gen, keep;         /* generation of the slot; history size of the last publish */
    uint32_t nlen, pad;
    char epoch[32];
    uint8_t name[GP__HS_NAME];
    /* then depth x uint64_t: ring position of offset o at [o % depth] */
} gp__hs_group;
typedef struct gp__hs_ent { uint32_t slot, gen; uint64_t offset; uint32_t len, pad; } gp__hs_ent;
struct gp_chansrv_store {
    void *alloc_ctx;            /* of this handle (the mapping is mmap's) */
    uint8_t *map;
    size_t map_size;
    gp__hs_hdr *h;
    gp__hs_tag *tags;
    uint8_t *slots, *ring;
};

static void gp__store_defaults(gp_chansrv_store_config *cfg) {
    GP__DEF(cfg->depth, 100);
    GP__DEF(cfg->max_bytes, (size_t)64 << 20);
    GP__DEF(cfg->max_groups, 65536);
}

static int gp__store_create(void *ctx, const gp_chansrv_store_config *cfg, gp_chansrv_store **out) {
    gp_chansrv_store_config c;
    gp_chansrv_store *st;
    size_t nb, slot_size, off_tags, off_slots, off_ring, total;
    uint8_t rnd[4];
    int fd, flags = MAP_SHARED | MAP_ANONYMOUS;
    if (out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    memset(&c, 0, sizeof c);
    if (cfg) c = *cfg;
    gp__store_defaults(&c);
    nb = (c.max_groups + GP__HS_WAYS - 1) / GP__HS_WAYS;
    if (c.depth > 1000000 || nb > ((size_t)1 << 24) || c.max_bytes < 4096 || (c.max_bytes >> 20) > ((size_t)1 << 20))
        return GP_ERR_INVAL;
    slot_size = sizeof(gp__hs_group) + c.depth * sizeof(uint64_t);
    off_tags = (sizeof(gp__hs_hdr) + 63) & ~(size_t)63;
    off_slots = off_tags + nb * GP__HS_WAYS * sizeof(gp__hs_tag);
    off_ring = (off_slots + nb * GP__HS_WAYS * slot_size + 4095) & ~(size_t)4095;
    total = off_ring + ((c.max_bytes + 7) & ~(size_t)7);
    if ((st = (gp_chansrv_store *)gp__calloc(ctx, sizeof *st)) == NULL) return GP_ERR_NOMEM;
    st->alloc_ctx = ctx;
#ifdef MAP_NORESERVE
    flags |= MAP_NORESERVE;   /* pages are touched as groups and messages come */
#endif
    st->map = (uint8_t *)mmap(NULL, total, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (st->map == (uint8_t *)MAP_FAILED) { gp__free(ctx, st, sizeof *st); return GP_ERR_NOMEM; }
    st->map_size = total;
    st->h = (gp__hs_hdr *)(void *)st->map;
    st->tags = (gp__hs_tag *)(void *)(st->map + off_tags);
    st->slots = st->map + off_slots;
    st->ring = st->map + off_ring;
    st->h->ring_size = (c.max_bytes + 7) & ~(size_t)7;
    st->h->nslots = nb * GP__HS_WAYS;
    st->h->depth = c.depth;
    st->h->slot_size = slot_size;
    /* the random part of the epochs: a store made after a restart never repeats one */
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
        uint32_t t = (uint32_t)gp_time_ms() ^ ((uint32_t)getpid() << 16);
        memcpy(rnd, &t, sizeof rnd);
    }
    if (fd >= 0) close(fd);
    gp_fmt(st->h->base, sizeof st->h->base, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    st->h->magic = GP__HS_MAGIC;
    *out = st;
    return GP_OK;
}

GP_API int gp_chansrv_store_create(const gp_chansrv_store_config *cfg, gp_chansrv_store **out) {
    return gp__store_create(NULL, cfg, out);
}

GP_API void gp_chansrv_store_destroy(gp_chansrv_store *st) {
    if (st == NULL) return;
    munmap(st->map, st->map_size);
    gp__free(st->alloc_ctx, st, sizeof *st);
}

static gp__hs_group *gp__hs_slot(const gp_chansrv_store *st, size_t i) {
    return (gp__hs_group *)(void *)(st->slots + i * st->h->slot_size);
}
static uint64_t *gp__hs_pos(gp__hs_group *g) { return (uint64_t *)(void *)(g + 1); }

/* The slot of a group (KEYS[1] of the scripts); create: take the free or least recently
   used slot of its bucket (a new epoch). NULL: a name over GP__HS_NAME bytes, or not there. */
static gp__hs_group *gp__hs_find(gp_chansrv_store *st, const uint8_t *name, size_t len, uint64_t now, int create,
                                 size_t *idx) {
    uint32_t h = gp__hash(name, len);
    size_t b = (size_t)(h % (st->h->nslots / GP__HS_WAYS)) * GP__HS_WAYS, w, victim = b;
    gp__hs_group *g;
    volatile gp__hs_tag *t;
    if (len > GP__HS_NAME) return NULL;
    for (w = b; w < b + GP__HS_WAYS; w++) {
        gp__hs_tag *tw = &st->tags[w];
        if (tw->used && tw->hash == h) {
            g = gp__hs_slot(st, w);
            if (g->nlen == len && memcmp(g->name, name, len) == 0) {
                tw->used_ms = now;
                *idx = w;
                return g;
            }
        }
        if (!tw->used) { if (st->tags[victim].used) victim = w; }
        else if (st->tags[victim].used && tw->used_ms < st->tags[victim].used_ms) victim = w;
    }
    if (!create) return NULL;
    t = &st->tags[victim];
    g = gp__hs_slot(st, victim);
    t->used = 0;   /* free while it is being set up: a writer killed now leaves a free slot */
    GP__BARRIER();
    g->gen++;
    g->top = 0;
    g->pub_ms = g->ttl_ms = 0;
    g->keep = 0;
    g->nlen = (uint32_t)len;
    memcpy(g->name, name, len);
    st->h->epochs++;
    gp_fmt(g->epoch, sizeof g->epoch, "%s-%llx", st->h->base, (unsigned long long)st->h->epochs);
    t->hash = h;
    t->used_ms = now;
    GP__BARRIER();
    t->used = 1;
    *idx = victim;
    return g;
}

/* The next offset of g; the payload is kept when keep > 0 (at most depth, 1/4 of the ring). */
static uint64_t gp__hs_publish(gp_chansrv_store *st, gp__hs_group *g, size_t idx, const uint8_t *p, size_t n,
                               uint64_t keep, uint64_t ttl_ms, uint64_t now) {
    volatile gp__hs_group *vg = g;
    uint64_t o = g->top + 1, ring = st->h->ring_size;
    size_t esz = (sizeof(gp__hs_ent) + n + 7) & ~(size_t)7;
    if (keep > 0 && st->h->depth > 0 && esz <= ring / 4) {
        uint64_t pos = st->h->wpos, at = pos % ring;
        gp__hs_ent e;
        if (at + esz > ring) { pos += ring - at; at = 0; }
        ((volatile gp__hs_hdr *)st->h)->wpos = pos + esz;   /* first: what this overwrites is dead */
        GP__BARRIER();
        e.slot = (uint32_t)idx;
        e.gen = g->gen;
        e.offset = o;
        e.len = (uint32_t)n;
        e.pad = 0;
        memcpy(st->ring + at, &e, sizeof e);
        if (n) memcpy(st->ring + at + sizeof e, p, n);
        GP__BARRIER();
        ((volatile uint64_t *)gp__hs_pos(g))[o % st->h->depth] = pos;
    }
    vg->pub_ms = now;
    vg->ttl_ms = ttl_ms;
    vg->keep = (uint32_t)GP__MIN(keep, st->h->depth);
    GP__BARRIER();
    vg->top = o;   /* the commit */
    return o;
}

/* The kept entry of offset o of g, or NULL. */
static const gp__hs_ent *gp__hs_entry(const gp_chansrv_store *st, gp__hs_group *g, size_t idx, uint64_t o) {
    uint64_t pos = gp__hs_pos(g)[o % st->h->depth], ring = st->h->ring_size, w = st->h->wpos;
    const gp__hs_ent *e;
    if (pos >= w || w - pos > ring || pos % 8) return NULL;
    e = (const gp__hs_ent *)(const void *)(st->ring + pos % ring);
    if (pos % ring + sizeof *e > ring || e->slot != idx || e->gen != g->gen || e->offset != o ||
        pos + sizeof *e + e->len > w || pos % ring + sizeof *e + e->len > ring)
        return NULL;
    return e;
}

/* The first offset after `since` still kept and how many follow it without a hole (at most
   max), or 0 when none. */
static uint64_t gp__hs_range(const gp_chansrv_store *st, gp__hs_group *g, size_t idx, uint64_t since, uint64_t max,
                             uint64_t now, uint64_t *count) {
    uint64_t top = g->top, o, first = 0;
    *count = 0;
    if (since >= top || max == 0 || g->keep == 0 || (g->ttl_ms && now - g->pub_ms >= g->ttl_ms)) return 0;
    o = since + 1;
    if (top >= g->keep && top - g->keep + 1 > o) o = top - g->keep + 1;
    for (; o <= top && *count < max; o++) {
        if (gp__hs_entry(st, g, idx, o) == NULL) {
            if (first) break;   /* a hole: what follows it is another page's business */
            continue;
        }
        if (!first) first = o;
        ++*count;
    }
    return first;
}

/* ---- EVAL / EVALSHA / SCRIPT: grouppush's two scripts, run natively on the store ---- */
enum { GP__CS_SCRIPT_NONE = 0, GP__CS_SCRIPT_PUB = 1, GP__CS_SCRIPT_HIST = 2 };
static const char *const gp__cs_scripts[3] = { NULL, GP_CHAN_SCRIPT_PUBLISH, GP_CHAN_SCRIPT_HISTORY };

static int gp__cs_script_by_text(const gp_bytes *t) {
    int i;
    for (i = 1; i <= 2; i++)
        if (t->len == strlen(gp__cs_scripts[i]) && memcmp(t->ptr, gp__cs_scripts[i], t->len) == 0) return i;
    return GP__CS_SCRIPT_NONE;
}

static int gp__cs_script_by_sha(const gp_bytes *sha) {
    int i;
    for (i = 1; i <= 2; i++) {
        char hex[41];
        gp_chan_script_sha(gp__cs_scripts[i], hex);
        if (gp__ieq(sha->ptr, sha->len, hex)) return i;
    }
    return GP__CS_SCRIPT_NONE;
}

static int gp__cs_store(gp_chansrv *s) {   /* the store, made on first use if none was given */
    if (s->store == NULL && gp__store_create(s->alloc_ctx, NULL, &s->own_store) == GP_OK) s->store = s->own_store;
    return s->store != NULL;
}

/* argv: EVAL|EVALSHA, script|sha, numkeys, KEYS[1], KEYS[2], ARGV... */
static void gp__cs_script_run(gp__cs_client *c, int which, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    int64_t nk, a[3] = { 0, 0, 0 };
    size_t want = which == GP__CS_SCRIPT_PUB ? 6 : 4, idx = 0, i;
    const size_t *nums = NULL;
    static const size_t pub_nums[3] = { 7, 8, 0 }, hist_nums[3] = { 5, 6, 0 };
    uint64_t now = gp_time_ms();
    gp__hs_group *g;
    if (gp__parse_i64(argv[2].ptr, argv[2].len, &nk) != 0 || nk < 0) {
        gp__cs_err(c, "ERR value is not an integer or out of range");
        return;
    }
    if ((uint64_t)nk > argc - 3) { gp__cs_err(c, "ERR Number of keys can't be greater than number of args"); return; }
    if (nk != 2 || argc != 3 + 2 + want) {
        gp__cs_err(c, "ERR Error running script: grouppush's %s script takes 2 keys and %lu arguments",
                   which == GP__CS_SCRIPT_PUB ? "PUBLISH" : "HISTORY", (unsigned long)want);
        return;
    }
    nums = which == GP__CS_SCRIPT_PUB ? pub_nums : hist_nums;
    for (i = 0; nums[i]; i++)
        if (gp__parse_i64(argv[nums[i]].ptr, argv[nums[i]].len, &a[i]) != 0 || a[i] < (which == GP__CS_SCRIPT_HIST && i == 0 ? -1 : 0)) {
            gp__cs_err(c, "ERR Error running script: ARGV[%lu] must be an integer", (unsigned long)(nums[i] - 4));
            return;
        }
    if (!gp__cs_store(s)) { gp__cs_err(c, "OOM cannot map the group store"); return; }
    if ((g = gp__hs_find(s->store, argv[3].ptr, argv[3].len, now, 1, &idx)) == NULL) {
        gp__cs_err(c, "ERR Error running script: key longer than %d bytes", GP__HS_NAME);
        return;
    }
    if (which == GP__CS_SCRIPT_PUB) {
        uint64_t o = gp__hs_publish(s->store, g, idx, argv[6].ptr, argv[6].len, (uint64_t)a[0],
                                    (uint64_t)a[1] * 1000u, now);
        gp_buf *e = &s->scratch;
        e->len = 0;
        if (gp__buf_printf(e, "\xFFgp1 %llu %s ", (unsigned long long)o, g->epoch) != GP_OK ||
            gp_buf_append(e, argv[6].ptr, argv[6].len) != GP_OK) {
            gp__cs_err(c, "OOM out of memory");
            return;
        }
        gp__cs_publish(s, argv[5].ptr, argv[5].len, e->data, e->len);
        gp_chan_put_agg(&c->out, '*', 2);
        gp_chan_put_int(&c->out, (int64_t)o);
        gp__cs_bulkstr(c, g->epoch);
    } else {
        uint64_t n = 0, first = 0, k;
        if (a[0] >= 0) first = gp__hs_range(s->store, g, idx, (uint64_t)a[0], (uint64_t)a[1], now, &n);
        gp_chan_put_agg(&c->out, '*', first ? 3 + (size_t)n : 2);
        gp__cs_bulkstr(c, g->epoch);
        gp_chan_put_int(&c->out, (int64_t)g->top);
        if (first) {
            gp_chan_put_int(&c->out, (int64_t)first);
            for (k = first; k < first + n; k++) {
                const gp__hs_ent *e = gp__hs_entry(s->store, g, idx, k);
                gp_chan_put_bulk(&c->out, e + 1, e->len);
            }
        }
    }
}

static void gp__cs_cmd_eval(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    int which = gp__cs_script_by_text(&argv[1]);
    if (which == GP__CS_SCRIPT_NONE) {
        gp__cs_err(c, "ERR this channel server runs only grouppush's scripts (GP_CHAN_SCRIPT_PUBLISH, "
                      "GP_CHAN_SCRIPT_HISTORY), byte for byte");
        return;
    }
    gp__cs_script_run(c, which, argc, argv);
}

static void gp__cs_cmd_evalsha(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    int which = gp__cs_script_by_sha(&argv[1]);
    if (which == GP__CS_SCRIPT_NONE) { gp__cs_err(c, "NOSCRIPT No matching script. Please use EVAL."); return; }
    gp__cs_script_run(c, which, argc, argv);
}

static void gp__cs_cmd_script_load(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    int which = gp__cs_script_by_text(&argv[2]);
    char hex[41];
    (void)argc;
    if (which == GP__CS_SCRIPT_NONE) {
        gp__cs_err(c, "ERR this channel server runs only grouppush's scripts (GP_CHAN_SCRIPT_PUBLISH, "
                      "GP_CHAN_SCRIPT_HISTORY), byte for byte");
        return;
    }
    gp_chan_script_sha(gp__cs_scripts[which], hex);
    gp__cs_bulkstr(c, hex);
}

static void gp__cs_cmd_script_exists(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    size_t i;
    gp_chan_put_agg(&c->out, '*', argc - 2);
    for (i = 2; i < argc; i++) gp_chan_put_int(&c->out, gp__cs_script_by_sha(&argv[i]) != GP__CS_SCRIPT_NONE);
}

static void gp__cs_cmd_script_help(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    static const char *const lines[] = {
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "EXISTS <sha1> [<sha1> ...]", "    Return 1 for each script this server runs (grouppush's two), else 0.",
        "FLUSH [ASYNC|SYNC]", "    Accepted; grouppush's scripts are always there.",
        "LOAD <script>", "    Return the SHA1 of one of grouppush's scripts; any other is refused.",
        "HELP", "    Print this help.", NULL };
    (void)argc; (void)argv;
    gp__cs_help(c, lines);
}

#define GP__CS_ROW(name, arity, flags, fn, group, summary) { name, arity, flags, fn, NULL, group, summary }
#define GP__CS_NONE { NULL, 0, 0, NULL, NULL, NULL, NULL }
static const gp__cs_cmd gp__cs_pubsub_subs[] = {
    GP__CS_ROW("channels", -2, 0, gp__cs_cmd_pubsub_channels, "pubsub", "List the channels that have subscribers."),
    GP__CS_ROW("numsub", -2, 0, gp__cs_cmd_pubsub_numsub, "pubsub", "Count the subscribers of channels."),
    GP__CS_ROW("numpat", 2, 0, gp__cs_cmd_pubsub_numpat, "pubsub", "Count the distinct subscribed patterns."),
    GP__CS_ROW("help", 2, 0, gp__cs_cmd_pubsub_help, "pubsub", "Describe the PUBSUB subcommands."),
    GP__CS_NONE
};

static const gp__cs_cmd gp__cs_client_subs[] = {
    GP__CS_ROW("setname", 3, 0, gp__cs_cmd_client_setname, "connection", "Name this connection."),
    GP__CS_ROW("getname", 2, 0, gp__cs_cmd_client_getname, "connection", "This connection's name."),
    GP__CS_ROW("id", 2, 0, gp__cs_cmd_client_id, "connection", "This connection's id."),
    GP__CS_ROW("info", 2, 0, gp__cs_cmd_client_info, "connection", "Describe this connection."),
    GP__CS_ROW("list", -2, 0, gp__cs_cmd_client_list, "connection", "Describe every connection."),
    GP__CS_ROW("setinfo", 4, 0, gp__cs_cmd_client_setinfo, "connection", "Record the client library's name or version."),
    GP__CS_ROW("reply", 3, 0, gp__cs_cmd_client_reply, "connection", "Silence replies (OFF, SKIP the next) or bring them back (ON)."),
    GP__CS_ROW("help", 2, 0, gp__cs_cmd_client_help, "connection", "Describe the CLIENT subcommands."),
    GP__CS_NONE
};

static const gp__cs_cmd gp__cs_config_subs[] = {
    GP__CS_ROW("get", -3, 0, gp__cs_cmd_config_get, "server", "Read settings whose names match patterns."),
    GP__CS_ROW("help", 2, 0, gp__cs_cmd_config_help, "server", "Describe the CONFIG subcommands."),
    GP__CS_NONE
};

static const gp__cs_cmd gp__cs_command_subs[] = {
    GP__CS_ROW("count", 2, 0, gp__cs_cmd_command_count, "server", "Count the commands."),
    GP__CS_ROW("docs", -2, 0, gp__cs_cmd_command_docs, "server", "Document commands."),
    GP__CS_ROW("info", -2, 0, gp__cs_cmd_command_info, "server", "Describe commands."),
    GP__CS_ROW("list", 2, 0, gp__cs_cmd_command_list, "server", "List the command names."),
    GP__CS_ROW("help", 2, 0, gp__cs_cmd_command_help, "server", "Describe the COMMAND subcommands."),
    GP__CS_NONE
};

static const gp__cs_cmd gp__cs_script_subs[] = {
    GP__CS_ROW("load", 3, 0, gp__cs_cmd_script_load, "scripting", "Load one of grouppush's scripts: its SHA1."),
    GP__CS_ROW("exists", -3, 0, gp__cs_cmd_script_exists, "scripting", "Say which SHA1s this server runs."),
    GP__CS_ROW("flush", -2, 0, gp__cs_cmd_ok, "scripting", "Accepted; grouppush's scripts stay."),
    GP__CS_ROW("help", 2, 0, gp__cs_cmd_script_help, "scripting", "Describe the SCRIPT subcommands."),
    GP__CS_NONE
};

static const gp__cs_cmd gp__cs_commands[] = {
    GP__CS_ROW("ping", -1, GP__CS_SUBCTX, gp__cs_cmd_ping, "connection", "Answer PONG, or echo a message."),
    GP__CS_ROW("echo", 2, 0, gp__cs_cmd_echo, "connection", "Echo a message."),
    GP__CS_ROW("auth", -2, GP__CS_NOAUTH | GP__CS_OPENING, gp__cs_cmd_auth, "connection", "Authenticate."),
    GP__CS_ROW("hello", -1, GP__CS_NOAUTH | GP__CS_OPENING, gp__cs_cmd_hello, "connection",
               "Choose RESP2 or RESP3, optionally authenticate and name the connection."),
    GP__CS_ROW("select", 2, 0, gp__cs_cmd_select, "connection", "Select database 0, the only one."),
    GP__CS_ROW("quit", -1, GP__CS_NOAUTH | GP__CS_SUBCTX | GP__CS_NOQUEUE, gp__cs_cmd_quit, "connection",
               "Close the connection."),
    GP__CS_ROW("reset", 1, GP__CS_NOAUTH | GP__CS_SUBCTX | GP__CS_NOQUEUE, gp__cs_cmd_reset, "connection",
               "Return the connection to its initial state."),
    GP__CS_ROW("subscribe", -2, GP__CS_SUBCTX | GP__CS_OPENING | GP__CS_PUBSUB, gp__cs_cmd_subscribe, "pubsub",
               "Receive the messages published to channels."),
    GP__CS_ROW("unsubscribe", -1, GP__CS_SUBCTX | GP__CS_PUBSUB, gp__cs_cmd_unsubscribe, "pubsub",
               "Stop receiving from channels (all without arguments)."),
    GP__CS_ROW("psubscribe", -2, GP__CS_SUBCTX | GP__CS_OPENING | GP__CS_PUBSUB, gp__cs_cmd_psubscribe, "pubsub",
               "Receive the messages published to channels matching glob patterns."),
    GP__CS_ROW("punsubscribe", -1, GP__CS_SUBCTX | GP__CS_PUBSUB, gp__cs_cmd_punsubscribe, "pubsub",
               "Stop receiving from patterns (all without arguments)."),
    GP__CS_ROW("publish", 3, GP__CS_PUBSUB, gp__cs_cmd_publish, "pubsub",
               "Publish a message to a channel; the reply is the number of receivers."),
    { "pubsub", -2, 0, NULL, gp__cs_pubsub_subs, "pubsub", "Inspect the pub/sub state." },
    GP__CS_ROW("eval", -3, 0, gp__cs_cmd_eval, "scripting",
               "Run GP_CHAN_SCRIPT_PUBLISH or _HISTORY (group offsets and history); no other script."),
    GP__CS_ROW("evalsha", -3, 0, gp__cs_cmd_evalsha, "scripting", "EVAL by SHA1 (grouppush's scripts only)."),
    { "script", -2, 0, NULL, gp__cs_script_subs, "scripting", "Load and look up grouppush's scripts." },
    GP__CS_ROW("multi", 1, GP__CS_NOQUEUE, gp__cs_cmd_multi, "transactions", "Start queueing a transaction."),
    GP__CS_ROW("exec", 1, GP__CS_NOQUEUE, gp__cs_cmd_exec, "transactions", "Run the queued commands in order."),
    GP__CS_ROW("discard", 1, GP__CS_NOQUEUE, gp__cs_cmd_discard, "transactions", "Drop the queued commands."),
    GP__CS_ROW("watch", -2, GP__CS_NOQUEUE, gp__cs_cmd_watch, "transactions",
               "Accepted; there are no keys, so no EXEC is ever aborted by it."),
    GP__CS_ROW("unwatch", 1, 0, gp__cs_cmd_ok, "transactions", "Accepted (no keys are watched)."),
    { "client", -2, GP__CS_OPENING, NULL, gp__cs_client_subs, "connection", "Inspect and name connections." },
    GP__CS_ROW("info", -1, 0, gp__cs_cmd_info, "server", "Server, clients, memory and stats sections."),
    { "command", -1, 0, gp__cs_cmd_command, gp__cs_command_subs, "server", "Describe the commands this server has." },
    { "config", -2, 0, NULL, gp__cs_config_subs, "server", "Read the settings clients ask for." },
    GP__CS_NONE
};
#undef GP__CS_ROW
#undef GP__CS_NONE
static const gp__cs_cmd *gp__cs_table(void) { return gp__cs_commands; }
/* One request. Checks in Redis's order; each rejection inside MULTI dooms the EXEC. */
static void gp__cs_dispatch_one(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    gp_chansrv *s = c->s;
    const gp__cs_cmd *k = gp__cs_lookup(gp__cs_commands, &argv[0]), *sub = NULL, *run;
    char full[64];
    size_t mark = c->out.len;
    s->cmd_seq++;
    s->st.commands++;
    c->last_ms = gp_loop_now(s->loop);
    if (k == NULL || !(k->flags & GP__CS_OPENING)) c->opened = 1;   /* opening pipeline over */
    if (k == NULL) { gp__cs_unknown(c, argc, argv); gp__cs_reject(c, NULL, mark); return; }
    if (!gp__cs_arity_ok(k, argc)) { gp__cs_arity(c, k->name); gp__cs_reject(c, sub ? sub : k, mark); return; }
    if (k->subs && (argc >= 2 || k->run == NULL)) {   /* COMMAND alone has a handler of its own */
        if ((sub = gp__cs_lookup(k->subs, &argv[1])) == NULL) {
            char up[16];
            size_t q;
            for (q = 0; k->name[q] && q + 1 < sizeof up; q++) up[q] = (char)(k->name[q] - 32);
            up[q] = '\0';
            gp__cs_err(c, "ERR unknown subcommand '%.*s'. Try %s HELP.", (int)GP__MIN(argv[1].len, (size_t)128),
                       (const char *)argv[1].ptr, up);
            gp__cs_reject(c, sub ? sub : k, mark);
            return;
        }
        gp__cs_fullname(k, sub, full, sizeof full);
        if (!gp__cs_arity_ok(sub, argc)) { gp__cs_arity(c, full); gp__cs_reject(c, sub ? sub : k, mark); return; }
    }
    run = sub ? sub : k;
    c->last_cmd = k->name;
    c->last_sub = sub ? sub->name : NULL;
    if (!c->authed && !(run->flags & GP__CS_NOAUTH)) {
        gp__cs_err(c, "NOAUTH Authentication required.");
        gp__cs_reject(c, sub ? sub : k, mark);
        return;
    }
    if (!c->resp3 && gp__cs_count(c) > 0 && !(run->flags & GP__CS_SUBCTX)) {
        gp__cs_err(c, "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                      "are allowed in this context", sub ? full : k->name);
        gp__cs_reject(c, sub ? sub : k, mark);
        return;
    }
    if (c->multi && !(run->flags & GP__CS_NOQUEUE)) { gp__cs_multi_queue(c, run, argc, argv); return; }
    run->run(c, argc, argv);
}

/* One request, its replies dropped under CLIENT REPLY OFF or SKIP: they go to a scratch
   buffer while the connection's own (held) still takes its pushes. */
static void gp__cs_dispatch(gp__cs_client *c, size_t argc, gp_bytes *argv) {
    int mute = c->reply_off || c->skip_this;
    if (mute) {
        c->held = c->out;
        memset(&c->out, 0, sizeof c->out);
        c->out.alloc_ctx = c->s->alloc_ctx;
        c->muted = 1;
    }
    gp__cs_dispatch_one(c, argc, argv);
    if (mute) {
        gp_buf_free(&c->out);
        c->out = c->held;
        memset(&c->held, 0, sizeof c->held);
        c->muted = 0;
    }
    c->skip_this = c->skip_next;
    c->skip_next = 0;
}

/* Redis's wording for what gp_chan_parse_request rejected. */
static void gp__cs_proto_error(gp__cs_client *c, const uint8_t *b, size_t len, long rc) {
    long cr;
    int64_t n, k, bl;
    size_t pos;
    if (b[0] != '*') {
        gp__cs_err(c, "ERR Protocol error: %s", rc == GP_ERR_TOO_BIG ? "too big inline request" : "unbalanced quotes in request");
        return;
    }
    cr = gp__crlf(b, 1, len);
    if (cr < 0 || gp__parse_i64(b + 1, (size_t)cr - 1, &n) != 0 || n > 1024 * 1024) {
        gp__cs_err(c, "ERR Protocol error: %s", cr < 0 ? "too big mbulk count string" : "invalid multibulk length");
        return;
    }
    pos = (size_t)cr + 2;
    for (k = 0; k < n && pos < len; k++) {
        if (b[pos] != '$') { gp__cs_err(c, "ERR Protocol error: expected '$', got '%c'", b[pos]); return; }
        cr = gp__crlf(b, pos + 1, len);
        if (cr < 0 || gp__parse_i64(b + pos + 1, (size_t)cr - pos - 1, &bl) != 0 || bl < 0 ||
            (uint64_t)bl > c->s->cfg.max_bulk)
            break;
        pos = (size_t)cr + 2 + (size_t)bl + 2;
    }
    gp__cs_err(c, "ERR Protocol error: invalid bulk length");
}

/* The replies built so far join the stream, then everything queued is written. */
static void gp__cs_flush(gp__cs_client *c) {
    gp_chansrv *s = c->s;
    int rc;
    if (c->dead) return;
    rc = gp__stream_flush_buf(s->alloc_ctx, s->loop, &c->st, &c->out, &s->st.bytes_out);
    if (rc == GP_ERR_NOMEM) { gp__cs_kill(c, "out of memory"); return; }
    if (rc == GP_ERR_IO) { gp__cs_kill(c, strerror(errno)); return; }
    if (rc == GP_OK) {
        gp__stream_trim(s->alloc_ctx, &c->st);
        if (c->quit) gp__cs_kill(c, "quit");
    }
}

static void gp__cs_read(gp_loop *loop, int fd, int ev, void *user) {
    gp__cs_client *c = (gp__cs_client *)user;
    gp_chansrv *s = c->s;
    size_t off = 0;
    int rc;
    (void)loop; (void)fd;
    if (ev & GP_LOOP_WRITE) gp__cs_flush(c);
    if (c->dead || !(ev & (GP_LOOP_READ | GP_LOOP_ERROR))) return;
    rc = gp__stream_read_buf(s->loop, &c->st, &c->in, 16384, &s->st.bytes_in);
    if (rc != GP_OK) {
        gp__cs_kill(c, rc == GP_ERR_CLOSED ? "eof" : rc == GP_ERR_NOMEM ? "out of memory" : strerror(errno));
        return;
    }
    while (!c->dead && !c->quit && off < c->in.len) {
        size_t argc = 0;
        long n = gp_chan_parse_request(c->in.data + off, c->in.len - off, s->argv, s->argv_cap, &argc,
                                       s->cfg.max_bulk, 65536);
        if (n == GP_ERR_TOO_BIG && c->in.data[off] == '*' && s->argv_cap < s->cfg.max_args) {
            size_t want = GP__MIN(s->argv_cap * 4, s->cfg.max_args);
            if (gp__grow(s->alloc_ctx, (void **)&s->argv, &s->argv_cap, want, sizeof *s->argv) == GP_OK) continue;
        }
        if (n == 0) break;
        if (n < 0) {
            gp__cs_proto_error(c, c->in.data + off, c->in.len - off, n);
            c->quit = 1;   /* Redis closes after a protocol error */
            c->in.len = off = 0;
            break;
        }
        off += (size_t)n;
        if (argc == 0) continue;
        if (!c->seen) { c->seen = 1; c->grace_from = s->ngrace; }
        gp__cs_dispatch(c, argc, s->argv);
    }
    if (!c->dead) {
        gp_buf_consume(&c->in, off);
        if (c->in.len == 0 && c->in.cap > 65536) gp_buf_free(&c->in);
        gp__cs_mark(c);
    }
}

static void gp__cs_hook(gp_loop *loop, void *user) {
    gp_chansrv *s = (gp_chansrv *)user;
    size_t k;
    (void)loop;
    for (k = 0; k < s->dirty.n; k++) {   /* a flush or a kill never marks another client */
        gp__cs_client *c = (gp__cs_client *)(void *)s->dirty.v[k];
        if (!c->dead) gp__cs_flush(c);   /* DIRTY stays set: a kill in here cannot requeue c */
        c->st.flags &= (uint8_t)~GP__STREAM_DIRTY;
        if (c->dead) {
            size_t i;
            while (c->nchans > 0) { gp__cs_channel *ch = c->chans[--c->nchans]; gp__cs_chan_drop(s, ch, c); }
            while (c->npats > 0) gp__cs_punsubscribe(c, NULL, 0, NULL);
            for (i = 0; i < s->nclients; i++)
                if (s->clients[i] == c) { s->clients[i] = s->clients[--s->nclients]; break; }
            gp__stream_release(s->alloc_ctx, &c->st);
            gp_buf_free(&c->in);
            gp_buf_free(&c->out);
            gp_buf_free(&c->mq);
            gp__free(s->alloc_ctx, c->chans, c->chans_cap * sizeof *c->chans);
            gp__free(s->alloc_ctx, c->name, c->name ? strlen(c->name) + 1 : 0);
            gp__free(s->alloc_ctx, c->lib_name, c->lib_name ? strlen(c->lib_name) + 1 : 0);
            gp__free(s->alloc_ctx, c->lib_ver, c->lib_ver ? strlen(c->lib_ver) + 1 : 0);
            gp__free(s->alloc_ctx, c, sizeof *c);
            s->st.clients = s->nclients;
        }
    }
    s->dirty.n = 0;
}

GP_API int gp_chansrv_adopt(gp_chansrv *s, int fd) {
    gp__cs_client *c;
    int one = 1;
    if (s == NULL || fd < 0) return GP_ERR_INVAL;
    if (s->nclients >= s->cfg.max_clients) {
        static const char full[] = "-ERR max number of clients reached\r\n";
        (void)!send(fd, full, sizeof full - 1, MSG_NOSIGNAL);
        close(fd);
        s->st.rejected++;
        return GP_ERR_FULL;
    }
    if (gp__set_nonblock(fd) != GP_OK) { close(fd); return GP_ERR_IO; }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (gp__grow(s->alloc_ctx, (void **)&s->clients, &s->clients_cap, s->nclients + 1, sizeof *s->clients) != GP_OK ||
        gp__dirty_reserve(s->alloc_ctx, &s->dirty, s->nclients + 1) != GP_OK ||
        (c = (gp__cs_client *)gp__calloc(s->alloc_ctx, sizeof *c)) == NULL) {
        close(fd);
        return GP_ERR_NOMEM;
    }
    gp__stream_init(&c->st, fd);
    c->s = s;
    c->id = ++s->next_id;
    c->authed = s->password == NULL;
    c->in.alloc_ctx = c->out.alloc_ctx = c->mq.alloc_ctx = s->alloc_ctx;
    c->created_ms = c->last_ms = gp_loop_now(s->loop);
    if (gp_loop_watch(s->loop, fd, GP_LOOP_READ, gp__cs_read, c) != GP_OK) {
        close(fd);
        gp__free(s->alloc_ctx, c, sizeof *c);
        return GP_ERR_NOMEM;
    }
    s->clients[s->nclients++] = c;
    s->st.clients = s->nclients;
    return GP_OK;
}

static void gp__cs_accept(gp_loop *loop, int lfd, int ev, void *user) {
    gp_chansrv *s = (gp_chansrv *)user;
    int budget = 256;
    (void)loop; (void)ev;
    while (budget-- > 0) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        gp_chansrv_adopt(s, fd);
    }
}

static void gp__chansrv_defaults(gp_chansrv_config *cfg) {
    GP__DEF(cfg->max_clients, 10000);
    GP__DEF(cfg->max_bulk, 64u << 20);
    GP__DEF(cfg->max_args, 65536);
    GP__DEF(cfg->max_output, 32u << 20);
    GP__DEF(cfg->grace_ms, 2000);
    GP__DEF(cfg->grace_max_bytes, 64u << 20);
    GP__DEF(cfg->max_queued, 64u << 20);
}

GP_API int gp_chansrv_create(gp_loop *loop, const gp_chansrv_config *cfg, gp_chansrv **out) {
    gp_chansrv *s;
    if (loop == NULL || out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    s = (gp_chansrv *)gp__calloc(loop->alloc_ctx, sizeof *s);
    if (s == NULL) return GP_ERR_NOMEM;
    s->loop = loop;
    s->alloc_ctx = loop->alloc_ctx;
    s->lfd = -1;
    if (cfg) s->cfg = *cfg;
    gp__chansrv_defaults(&s->cfg);
    s->started_ms = gp_loop_now(loop);
    s->store = s->cfg.store;
    s->scratch.alloc_ctx = s->alloc_ctx;
    s->cfg.password = NULL;
    if (cfg && cfg->password && cfg->password[0]) {
        size_t n = strlen(cfg->password) + 1;
        if ((s->password = (char *)gp__malloc(s->alloc_ctx, n)) == NULL) { gp_chansrv_destroy(s); return GP_ERR_NOMEM; }
        memcpy(s->password, cfg->password, n);
    }
    if (gp__grow(s->alloc_ctx, (void **)&s->argv, &s->argv_cap, GP__MIN((size_t)1024, s->cfg.max_args),
                 sizeof *s->argv) != GP_OK ||
        gp_loop_hook_add(loop, gp__cs_hook, s) != GP_OK) {
        gp_chansrv_destroy(s);
        return GP_ERR_NOMEM;
    }
    if (s->cfg.grace_ms != GP_CHANSRV_NO_GRACE) {
        s->grace_until = gp_loop_now(loop) + s->cfg.grace_ms;
        s->grace_timer = gp_loop_timer_start(loop, s->cfg.grace_ms, 0, gp__cs_grace_end, s);
    }
    *out = s;
    return GP_OK;
}

GP_API int gp_chansrv_listen(gp_chansrv *s, const char *host, int port) {
    int fd, rc;
    if (s == NULL || s->lfd >= 0) return GP_ERR_INVAL;
    if ((rc = gp_net_listen(host ? host : "127.0.0.1", port, 0, 0, &fd)) != GP_OK) return rc;
    if ((rc = gp_loop_watch(s->loop, fd, GP_LOOP_READ, gp__cs_accept, s)) != GP_OK) { close(fd); return rc; }
    s->lfd = fd;
    return GP_OK;
}

GP_API int gp_chansrv_port(const gp_chansrv *s) { return s && s->lfd >= 0 ? gp_net_local_port(s->lfd) : -1; }
GP_API void gp_chansrv_stats_get(const gp_chansrv *s, gp_chansrv_stats *st) {
    if (s == NULL || st == NULL) return;
    *st = s->st;
    st->clients = s->nclients;
    st->channels = s->nchannels;
    st->patterns = s->npats;
}

GP_API void gp_chansrv_destroy(gp_chansrv *s) {
    size_t i;
    if (s == NULL) return;
    for (i = 0; i < s->nclients; i++) gp__cs_kill(s->clients[i], "server destroyed");
    gp__cs_hook(s->loop, s);
    gp_loop_hook_remove(s->loop, gp__cs_hook, s);
    if (s->grace_timer) gp_loop_timer_stop(s->loop, s->grace_timer);
    gp__cs_grace_free(s);
    if (s->lfd >= 0) { gp_loop_unwatch(s->loop, s->lfd); close(s->lfd); }
    gp__free(s->alloc_ctx, s->clients, s->clients_cap * sizeof *s->clients);
    gp__free(s->alloc_ctx, s->ct, s->ct_size * sizeof *s->ct);
    gp__free(s->alloc_ctx, s->pats, s->pats_cap * sizeof *s->pats);
    gp__free(s->alloc_ctx, s->argv, s->argv_cap * sizeof *s->argv);
    gp__free(s->alloc_ctx, s->xargv, s->xargv_cap * sizeof *s->xargv);
    gp__dirty_free(s->alloc_ctx, &s->dirty);
    gp__free(s->alloc_ctx, s->password, s->password ? strlen(s->password) + 1 : 0);
    gp_chansrv_store_destroy(s->own_store);
    gp_buf_free(&s->scratch);
    gp__free(s->alloc_ctx, s, sizeof *s);
}

/* ==== >>chancli  pub/sub client: one RESP3 connection, reconnect, backlog. Uses: >>loop >>net >>chan ==== */

#define GP__CC "chancli"
enum { GP__CC_DOWN = 0, GP__CC_CONNECTING, GP__CC_HELLO, GP__CC_UP };
enum { GP__CC_R_PUBLISH = 1, GP__CC_R_PING = 2, GP__CC_R_OTHER = 3 };
typedef struct gp__ccsub {
    struct gp__ccsub *hnext;
    uint32_t hash;
    int is_pat;
    gp_chancli_msg_fn fn;
    void *user;
    size_t len;
    uint8_t *name;
} gp__ccsub;
struct gp_chancli {
    gp_loop *loop;
    void *alloc_ctx;
    gp_chancli_config cfg;
    char *strs;                 /* host, username, password copies */
    gp__stream conn;            /* the connection (>>stream); conn.fd < 0 while down */
    int state;
    gp_buf in, out;             /* out: commands being built, queued on conn by gp__cc_flush */
    gp__ccsub **subs;           /* hash table of subscriptions (channels and patterns) */
    size_t subs_size, nsubs;
    gp__ring pubs;              /* of gp__ccpub, each PUBLISH (or call) encoded once: the first
                                   nsent are sent and unanswered, the rest held; a reconnect
                                   queues the same frames again */
    gp_buf scripts;             /* gp_chancli_load_script's texts, each NUL-ended */
    size_t nsent, held_bytes;
    gp__ring replies;           /* of uint8_t: the kinds of the non-push replies expected */
    gp_chan_value vals[64];
    gp_chan_value *big;         /* for a reply of more values (a history), grown up to 2^18 */
    size_t big_cap;
    uint64_t last_rx, t_connect, hb_timer, retry_timer, backoff, bytes_in, bytes_out;
    /* log rate: an outage is one line, then a summary per log_interval_ms (gp__cc_report) */
    uint64_t down_since, down_logged, down_fails;   /* 0 = none / not logged yet */
    uint64_t err_logged, err_quiet;                 /* error replies: last line, unlogged since */
    char down_why[160];
    gp_chancli_stats stats;
};

static uint32_t gp__ccsub_hash_of(const void *e) { return ((const gp__ccsub *)e)->hash; }
static uint32_t gp__cc_hash(const void *name, size_t len, int is_pat) { return gp__hash(name, len) ^ (uint32_t)is_pat; }
static gp__ccsub *gp__cc_find(const gp_chancli *c, const void *name, size_t len, int is_pat) {
    uint32_t h = gp__cc_hash(name, len, is_pat);
    gp__ccsub *s;
    if (c->subs_size == 0) return NULL;
    for (s = c->subs[h & (c->subs_size - 1)]; s; s = s->hnext)
        if (s->hash == h && s->is_pat == is_pat && s->len == len && memcmp(s->name, name, len) == 0) return s;
    return NULL;
}

static void gp__cc_send_cmd(gp_chancli *c, size_t argc, const gp_bytes *argv) {
    gp_chan_put_command(&c->out, argc, argv);
}

static void gp__cc_expect(gp_chancli *c, uint8_t kind) {
    uint8_t *k = (uint8_t *)gp__ring_push(c->alloc_ctx, &c->replies, 1, NULL);
    if (k) *k = kind;   /* without memory the reply will be taken as OTHER */
}

typedef struct gp__ccpub { gp_msg *m; gp_chancli_reply_fn fn; void *user; } gp__ccpub;   /* fn NULL: a PUBLISH */
static gp__ccpub *gp__cc_pubent(const gp_chancli *c, uint32_t i) { return (gp__ccpub *)gp__ring_at(&c->pubs, sizeof(gp__ccpub), i); }
static gp_msg *gp__cc_pub(const gp_chancli *c, uint32_t i) { return gp__cc_pubent(c, i)->m; }
static void gp__cc_connect(gp_chancli *c);
static void gp__cc_retry(gp_loop *loop, void *user) {
    gp_chancli *c = (gp_chancli *)user;
    (void)loop;
    c->retry_timer = 0;
    gp__cc_connect(c);
}

static void gp__cc_report(gp_chancli *c, uint64_t now);
static void gp__cc_drop(gp_chancli *c, const char *why) {
    int was_up = c->state == GP__CC_UP;
    uint64_t now = gp_loop_now(c->loop) | 1;   /* never 0: 0 means "none" below */
    if (c->state == GP__CC_DOWN) return;
    gp_fmt(c->down_why, sizeof c->down_why, "%s", why);
    if (c->down_since == 0) c->down_since = now;
    else c->down_fails++;
    if (was_up) {   /* the loss of a working channel: one line at once, then gp__cc_report */
        GP__LOG(c->loop, GP_LOG_WARN, GP__CC, "channel %s:%d lost: %s; reconnecting", c->cfg.host, c->cfg.port, why);
        c->down_logged = now;
        c->down_fails = 0;
    } else {
        GP__LOG(c->loop, GP_LOG_DEBUG, GP__CC, "channel %s:%d: attempt failed: %s", c->cfg.host, c->cfg.port, why);
        gp__cc_report(c, now);
    }
    if (c->conn.fd >= 0) { gp_loop_unwatch(c->loop, c->conn.fd); close(c->conn.fd); }
    gp__stream_release(c->alloc_ctx, &c->conn);   /* the publishes stay in c->pubs */
    gp__stream_init(&c->conn, -1);
    c->state = GP__CC_DOWN;
    c->in.len = 0;
    c->out.len = 0;
    c->replies.count = c->replies.head = 0;
    c->nsent = 0;             /* unacknowledged publishes are sent again after reconnecting */
    c->stats.up = 0;
    if (was_up) {
        c->backoff = 0;       /* first retry at once */
        c->stats.reconnects++;
        if (c->cfg.on_state) c->cfg.on_state(c, 0, c->cfg.user);
    } else {
        c->backoff = c->backoff ? GP__MIN(c->backoff * 2, c->cfg.backoff_max_ms) : 25;
    }
    if (c->retry_timer == 0) c->retry_timer = gp_loop_timer_start(c->loop, was_up ? 0 : c->backoff, 0, gp__cc_retry, c);
}

/* The commands built so far join the stream, then everything queued is written. */
static void gp__cc_flush(gp_chancli *c) {
    int rc;
    if (c->conn.fd < 0 || c->state < GP__CC_HELLO) return;
    if (c->conn.q.count == 0 && c->out.len == 0) return;
    rc = gp__stream_flush_buf(c->alloc_ctx, c->loop, &c->conn, &c->out, &c->bytes_out);
    if (rc == GP_ERR_NOMEM) gp__cc_drop(c, "out of memory");
    else if (rc == GP_ERR_IO) gp__cc_drop(c, strerror(errno));
    else if (rc == GP_OK) gp__stream_trim(c->alloc_ctx, &c->conn);
}

/* Queue one held or new publish behind the commands built so far. */
static int gp__cc_send_pub(gp_chancli *c, gp_msg *m) {
    if (gp__stream_push_buf(c->alloc_ctx, &c->conn, &c->out) != GP_OK ||
        gp__stream_push(c->alloc_ctx, &c->conn, m) != GP_OK)
        return GP_ERR_NOMEM;
    gp__cc_expect(c, GP__CC_R_PUBLISH);
    c->nsent++;
    return GP_OK;
}

static void gp__cc_hook(gp_loop *loop, void *user) { (void)loop; gp__cc_flush((gp_chancli *)user); }
static void gp__cc_ping(gp_chancli *c) {
    gp_bytes ping;
    ping.ptr = (const uint8_t *)"PING";
    ping.len = 4;
    gp__cc_send_cmd(c, 1, &ping);
    gp__cc_expect(c, GP__CC_R_PING);
}

static void gp__cc_script_load(gp_chancli *c, const char *text) {
    gp_bytes argv[3];
    argv[0].ptr = (const uint8_t *)"SCRIPT"; argv[0].len = 6;
    argv[1].ptr = (const uint8_t *)"LOAD"; argv[1].len = 4;
    argv[2].ptr = (const uint8_t *)text; argv[2].len = strlen(text);
    gp__cc_send_cmd(c, 3, argv);
    gp__cc_expect(c, GP__CC_R_OTHER);
}

/* SUBSCRIBE/PSUBSCRIBE for everything, pipelined right behind HELLO: one SUBSCRIBE with
   every channel and one PSUBSCRIBE with every pattern (up to 65535 names a command; 256 if
   the argument array cannot be had), so the built-in server's failover grace replays the
   kept messages of all of them in one pass, in publish order (>>chansrv). */
static void gp__cc_resubscribe(gp_chancli *c) {
    gp_bytes small[257], *argv;
    size_t b, n, cap, total = c->nsubs + 1;
    int pass;
    if (total > 65536) total = 65536;
    argv = total > 257 ? (gp_bytes *)gp__malloc(c->alloc_ctx, total * sizeof *argv) : NULL;
    cap = argv ? total : 257;
    if (argv == NULL) argv = small;
    for (pass = 0; pass < 2; pass++) {
        argv[0].ptr = (const uint8_t *)(pass ? "PSUBSCRIBE" : "SUBSCRIBE");
        argv[0].len = pass ? 10 : 9;
        n = 1;
        for (b = 0; b < c->subs_size; b++) {
            gp__ccsub *s;
            for (s = c->subs[b]; s; s = s->hnext) {
                if (s->is_pat != pass) continue;
                argv[n].ptr = s->name;
                argv[n].len = s->len;
                if (++n == cap) { gp__cc_send_cmd(c, n, argv); n = 1; }
            }
        }
        if (n > 1) gp__cc_send_cmd(c, n, argv);
    }
    if (argv != small) gp__free(c->alloc_ctx, argv, total * sizeof *argv);
}

/* After HELLO succeeded: every held (and every unacknowledged) publish, in order; the
   stream queues the frames kept in c->pubs (no copy). 0, or GP_ERR_NOMEM. */
static int gp__cc_resume(gp_chancli *c) {
    uint32_t i;
    for (i = 0; i < c->pubs.count; i++)
        if (gp__cc_send_pub(c, gp__cc_pub(c, i)) != GP_OK) return GP_ERR_NOMEM;
    c->held_bytes = 0;
    return GP_OK;
}

static void gp__cc_on_hello(gp_chancli *c, const gp_chan_value *v) {
    if (v->type == GP_CHAN_ERROR || v->type == GP_CHAN_BLOBERR) {
        char why[160];   /* WRONGPASS, NOAUTH...: logged by gp__cc_report like any failure */
        gp_fmt(why, sizeof why, "refused HELLO: %.*s", (int)GP__MIN(v->str.len, (size_t)140), (const char *)v->str.ptr);
        gp__cc_drop(c, why);
        return;
    }
    if (c->down_logged)
        GP__LOG(c->loop, GP_LOG_WARN, GP__CC, "channel %s:%d back after %llu.%u s", c->cfg.host, c->cfg.port,
                (unsigned long long)((gp_loop_now(c->loop) - c->down_since) / 1000),
                (unsigned)((gp_loop_now(c->loop) - c->down_since) % 1000 / 100));
    c->down_since = c->down_logged = c->down_fails = 0;
    c->state = GP__CC_UP;
    c->stats.up = 1;
    c->backoff = 0;
    if (gp__cc_resume(c) != GP_OK) { gp__cc_drop(c, "out of memory"); return; }
    if (c->cfg.on_state) c->cfg.on_state(c, 1, c->cfg.user);
}

static void gp__cc_on_value(gp_chancli *c, const gp_chan_value *v, size_t nv) {
    if (v->type == GP_CHAN_ATTR) return;
    if (v->type == GP_CHAN_PUSH || (v->type == GP_CHAN_ARRAY && c->state == GP__CC_UP && nv >= 4 &&
                                    v[1].type == GP_CHAN_BULK && c->replies.count == 0)) {
        gp__ccsub *s = NULL;
        gp_bytes ch, data;
        if (nv >= 4 && v->children == 3 && gp__ieq(v[1].str.ptr, v[1].str.len, "message")) {
            ch = v[2].str; data = v[3].str;
            s = gp__cc_find(c, ch.ptr, ch.len, 0);
        } else if (nv >= 5 && v->children == 4 && gp__ieq(v[1].str.ptr, v[1].str.len, "pmessage")) {
            ch = v[3].str; data = v[4].str;
            s = gp__cc_find(c, v[2].str.ptr, v[2].str.len, 1);
        } else return;   /* subscribe confirmations and other pushes */
        c->stats.received++;
        if (s && s->fn) s->fn(c, ch, data, s->user);
        else if (c->cfg.on_message) c->cfg.on_message(c, ch, data, s ? s->user : c->cfg.user);
        return;
    }
    if (c->state == GP__CC_HELLO) { gp__cc_on_hello(c, v); return; }
    if (c->replies.count > 0) {
        uint8_t k = *(uint8_t *)gp__ring_at(&c->replies, 1, 0);
        gp__ring_pop(&c->replies);
        if (k == GP__CC_R_PUBLISH && c->nsent > 0) {   /* acknowledged: forget it */
            gp__ccpub e = *gp__cc_pubent(c, 0);
            gp__ring_pop(&c->pubs);
            c->nsent--;
            gp_msg_unref(e.m);
            if (e.fn) {
                e.fn(c, v, nv, e.user);
                if (c->conn.fd < 0) return;   /* the connection dropped meanwhile (a write in the callback failed) */
            } else if (c->cfg.on_published) {
                c->cfg.on_published(c, v->type == GP_CHAN_INT ? v->integer : -1, c->cfg.user);
            }
        }
    }
    if (v->type == GP_CHAN_ERROR) {   /* one line per log_interval_ms, counting the others */
        uint64_t now = gp_loop_now(c->loop) | 1;
        if (c->err_logged && now - c->err_logged < c->cfg.log_interval_ms) { c->err_quiet++; return; }
        if (c->err_quiet)
            GP__LOG(c->loop, GP_LOG_WARN, GP__CC, "channel error: %.*s (and %llu more error replies before it)",
                    (int)GP__MIN(v->str.len, (size_t)200), (const char *)v->str.ptr, (unsigned long long)c->err_quiet);
        else
            GP__LOG(c->loop, GP_LOG_WARN, GP__CC, "channel error: %.*s", (int)GP__MIN(v->str.len, (size_t)200),
                    (const char *)v->str.ptr);
        c->err_logged = now;
        c->err_quiet = 0;
    }
}

static void gp__cc_io(gp_loop *loop, int fd, int ev, void *user) {
    gp_chancli *c = (gp_chancli *)user;
    size_t off = 0, had;
    int rc;
    (void)loop; (void)fd;
    if (c->state == GP__CC_CONNECTING) {
        gp_bytes argv[7];
        size_t n = 2;
        if (gp_net_connect_result(c->conn.fd) != GP_OK) { gp__cc_drop(c, strerror(errno)); return; }
        c->state = GP__CC_HELLO;
        c->last_rx = gp_loop_now(c->loop);
        gp_loop_set_events(c->loop, c->conn.fd, GP_LOOP_READ);
        argv[0].ptr = (const uint8_t *)"HELLO"; argv[0].len = 5;
        argv[1].ptr = (const uint8_t *)"3"; argv[1].len = 1;
        if (c->cfg.password) {
            argv[2].ptr = (const uint8_t *)"AUTH"; argv[2].len = 4;
            argv[3].ptr = (const uint8_t *)c->cfg.username; argv[3].len = strlen(c->cfg.username);
            argv[4].ptr = (const uint8_t *)c->cfg.password; argv[4].len = strlen(c->cfg.password);
            n = 5;
        }
        argv[n].ptr = (const uint8_t *)"SETNAME"; argv[n++].len = 7;
        argv[n].ptr = (const uint8_t *)"grouppush"; argv[n++].len = 9;
        gp__cc_send_cmd(c, n, argv);
        gp__cc_resubscribe(c);
        /* ends the re-subscription: the built-in server's failover grace replays only to the
           (P)SUBSCRIBEs before it (>>chansrv); a harmless PING anywhere else */
        gp__cc_ping(c);
        {   /* the scripts, before any held call that runs them */
            size_t o = 0;
            while (o < c->scripts.len) {
                const char *t = (const char *)c->scripts.data + o;
                gp__cc_script_load(c, t);
                o += strlen(t) + 1;
            }
        }
        gp__cc_flush(c);
        return;
    }
    if (ev & GP_LOOP_WRITE) gp__cc_flush(c);
    if (c->conn.fd < 0 || !(ev & (GP_LOOP_READ | GP_LOOP_ERROR))) return;
    had = c->in.len;
    rc = gp__stream_read_buf(c->loop, &c->conn, &c->in, 65536, &c->bytes_in);
    if (rc != GP_OK) {
        gp__cc_drop(c, rc == GP_ERR_CLOSED ? "closed by peer" : rc == GP_ERR_NOMEM ? "out of memory" : strerror(errno));
        return;
    }
    if (c->in.len > had) c->last_rx = gp_loop_now(c->loop);
    while (c->conn.fd >= 0 && off < c->in.len) {
        size_t nv = 0;
        gp_chan_value *vals = c->vals;
        long n = gp_chan_parse(c->in.data + off, c->in.len - off, vals, 64, &nv, c->cfg.max_bulk);
        if (n == GP_ERR_TOO_BIG && c->big_cap > 0) {   /* many values: the bigger array */
            vals = c->big;
            n = gp_chan_parse(c->in.data + off, c->in.len - off, vals, c->big_cap, &nv, c->cfg.max_bulk);
        }
        while (n == GP_ERR_TOO_BIG && c->big_cap < ((size_t)1 << 18)) {   /* still too few: grow it */
            size_t cap = c->big_cap;
            gp__free(c->alloc_ctx, c->big, c->big_cap * sizeof *c->big);
            c->big_cap = 0;
            if ((c->big = (gp_chan_value *)gp__malloc(c->alloc_ctx, (cap ? cap * 4 : 1024) * sizeof *c->big)) == NULL) break;
            c->big_cap = cap ? cap * 4 : 1024;
            vals = c->big;
            n = gp_chan_parse(c->in.data + off, c->in.len - off, vals, c->big_cap, &nv, c->cfg.max_bulk);
        }
        if (n == 0) break;
        if (n < 0) { gp__cc_drop(c, "protocol error from server"); return; }
        off += (size_t)n;
        gp__cc_on_value(c, vals, nv);
    }
    if (c->conn.fd >= 0) {
        gp_buf_consume(&c->in, off);
        if (c->in.len == 0 && c->in.cap > (1u << 20)) gp_buf_free(&c->in);
    }
}

static void gp__cc_connect(gp_chancli *c) {
    int fd = -1;
    if (c->state != GP__CC_DOWN) return;
    c->t_connect = gp_loop_now(c->loop);
    if (gp_net_connect(c->cfg.host, c->cfg.port, &fd) != GP_OK ||
        gp_loop_watch(c->loop, fd, GP_LOOP_WRITE, gp__cc_io, c) != GP_OK) {
        int err = errno;
        if (fd >= 0) close(fd);   /* connected but not watched (out of memory): not leaked */
        c->state = GP__CC_CONNECTING;
        c->conn.fd = -1;
        gp__cc_drop(c, strerror(err));
        return;
    }
    gp__stream_init(&c->conn, fd);
    c->state = GP__CC_CONNECTING;
}

/* While the channel is down (each heartbeat): a channel that never came up is announced
   after 1 s (not the start-up race with a channel server still binding), then one summary
   per log_interval_ms, however many attempts failed in between. */
static void gp__cc_report(gp_chancli *c, uint64_t now) {
    if (c->down_since == 0 || c->state == GP__CC_UP) return;
    if (c->down_logged == 0) {
        if (now - c->down_since < GP__MIN((uint64_t)1000, c->cfg.log_interval_ms)) return;
        GP__LOG(c->loop, GP_LOG_WARN, GP__CC, "channel %s:%d unreachable: %s; retrying", c->cfg.host, c->cfg.port,
                c->down_why);
    } else if (now - c->down_logged >= c->cfg.log_interval_ms) {
        GP__LOG(c->loop, GP_LOG_WARN, GP__CC, "channel %s:%d still down after %llu.%u s (%llu more failed attempts), last: %s",
                c->cfg.host, c->cfg.port, (unsigned long long)((now - c->down_since) / 1000),
                (unsigned)((now - c->down_since) % 1000 / 100), (unsigned long long)c->down_fails,
                c->down_why);
    } else {
        return;
    }
    c->down_logged = now | 1;
    c->down_fails = 0;
}

static void gp__cc_heartbeat(gp_loop *loop, void *user) {
    gp_chancli *c = (gp_chancli *)user;
    uint64_t now = gp_loop_now(loop), hb = c->cfg.heartbeat_ms;
    gp__cc_report(c, now);
    if (c->state == GP__CC_CONNECTING || c->state == GP__CC_HELLO) {
        if (now - c->t_connect >= 3 * hb) gp__cc_drop(c, "connect timeout");
        return;
    }
    if (c->state != GP__CC_UP) return;
    if (now - c->last_rx >= 3 * hb) { gp__cc_drop(c, "no answer to PING"); return; }
    if (now - c->last_rx >= hb) gp__cc_ping(c);
}

static void gp__chancli_defaults(gp_chancli_config *cfg) {
    GP__DEF(cfg->port, 2206);
    GP__DEF(cfg->heartbeat_ms, 1000);
    GP__DEF(cfg->backoff_max_ms, 1000);
    GP__DEF(cfg->max_backlog, 10000);
    GP__DEF(cfg->max_backlog_bytes, 64u << 20);
    GP__DEF(cfg->max_bulk, 64u << 20);
    GP__DEF(cfg->log_interval_ms, 10000);
}

GP_API int gp_chancli_create(gp_loop *loop, const gp_chancli_config *cfg, gp_chancli **out) {
    gp_chancli *c;
    size_t hl, ul, pl;
    const char *host, *user;
    if (loop == NULL || out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    c = (gp_chancli *)gp__calloc(loop->alloc_ctx, sizeof *c);
    if (c == NULL) return GP_ERR_NOMEM;
    c->loop = loop;
    c->alloc_ctx = loop->alloc_ctx;
    gp__stream_init(&c->conn, -1);
    if (cfg) c->cfg = *cfg;
    host = c->cfg.host ? c->cfg.host : "127.0.0.1";
    user = c->cfg.username ? c->cfg.username : "default";
    gp__chancli_defaults(&c->cfg);
    hl = strlen(host) + 1; ul = strlen(user) + 1;
    pl = c->cfg.password ? strlen(c->cfg.password) + 1 : 0;
    c->strs = (char *)gp__malloc(c->alloc_ctx, hl + ul + pl);
    c->in.alloc_ctx = c->out.alloc_ctx = c->scripts.alloc_ctx = c->alloc_ctx;
    if (c->strs == NULL || gp_loop_hook_add(loop, gp__cc_hook, c) != GP_OK) {
        gp__free(c->alloc_ctx, c->strs, hl + ul + pl);
        gp__free(c->alloc_ctx, c, sizeof *c);
        return GP_ERR_NOMEM;
    }
    memcpy(c->strs, host, hl);
    memcpy(c->strs + hl, user, ul);
    c->cfg.host = c->strs;
    c->cfg.username = c->strs + hl;
    if (pl) { memcpy(c->strs + hl + ul, c->cfg.password, pl); c->cfg.password = c->strs + hl + ul; }
    c->hb_timer = gp_loop_timer_start(loop, c->cfg.heartbeat_ms, c->cfg.heartbeat_ms, gp__cc_heartbeat, c);
    gp__cc_connect(c);
    *out = c;
    return GP_OK;
}

GP_API void gp_chancli_destroy(gp_chancli *c) {
    size_t i;
    if (c == NULL) return;
    if (c->conn.fd >= 0) { gp_loop_unwatch(c->loop, c->conn.fd); close(c->conn.fd); }
    gp__stream_release(c->alloc_ctx, &c->conn);
    if (c->hb_timer) gp_loop_timer_stop(c->loop, c->hb_timer);
    if (c->retry_timer) gp_loop_timer_stop(c->loop, c->retry_timer);
    gp_loop_hook_remove(c->loop, gp__cc_hook, c);
    for (i = 0; i < c->subs_size; i++) {
        gp__ccsub *s = c->subs[i], *nx;
        for (; s; s = nx) { nx = s->hnext; gp__free(c->alloc_ctx, s->name, s->len + 1); gp__free(c->alloc_ctx, s, sizeof *s); }
    }
    while (c->pubs.count > 0) { gp_msg_unref(gp__cc_pub(c, 0)); gp__ring_pop(&c->pubs); }
    gp__ring_free(c->alloc_ctx, &c->pubs, sizeof(gp__ccpub), NULL);
    gp_buf_free(&c->scripts);
    gp__free(c->alloc_ctx, c->big, c->big_cap * sizeof *c->big);
    gp__ring_free(c->alloc_ctx, &c->replies, 1, NULL);
    gp__free(c->alloc_ctx, c->subs, c->subs_size * sizeof *c->subs);
    gp_buf_free(&c->in);
    gp_buf_free(&c->out);
    gp__free(c->alloc_ctx, c->strs, strlen(c->cfg.host) + strlen(c->cfg.username) + 2 +
             (c->cfg.password ? strlen(c->cfg.password) + 1 : 0));
    gp__free(c->alloc_ctx, c, sizeof *c);
}

static int gp__cc_sub(gp_chancli *c, const void *name, size_t len, int is_pat, gp_chancli_msg_fn fn, void *user) {
    gp__ccsub *s;
    gp_bytes argv[2];
    if (c == NULL || name == NULL) return GP_ERR_INVAL;
    if ((s = gp__cc_find(c, name, len, is_pat)) != NULL) { s->fn = fn; s->user = user; return GP_OK; }
    if (gp__rehash(c->alloc_ctx, (void ***)&c->subs, &c->subs_size, c->nsubs + 1, offsetof(gp__ccsub, hnext),
                   gp__ccsub_hash_of) != GP_OK)
        return GP_ERR_NOMEM;
    s = (gp__ccsub *)gp__calloc(c->alloc_ctx, sizeof *s);
    if (s == NULL || (s->name = (uint8_t *)gp__malloc(c->alloc_ctx, len + 1)) == NULL) {
        gp__free(c->alloc_ctx, s, sizeof *s);
        return GP_ERR_NOMEM;
    }
    memcpy(s->name, name, len);
    s->len = len;
    s->is_pat = is_pat;
    s->fn = fn;
    s->user = user;
    s->hash = gp__cc_hash(name, len, is_pat);
    s->hnext = c->subs[s->hash & (c->subs_size - 1)];
    c->subs[s->hash & (c->subs_size - 1)] = s;
    c->nsubs++;
    c->stats.subscriptions = c->nsubs;
    /* HELLO sent: the resubscription went right behind it; this one follows on the same
       connection (before the HELLO reply is in, the next connect resubscribes anyway) */
    if (c->state >= GP__CC_HELLO) {
        argv[0].ptr = (const uint8_t *)(is_pat ? "PSUBSCRIBE" : "SUBSCRIBE");
        argv[0].len = is_pat ? 10 : 9;
        argv[1].ptr = s->name;
        argv[1].len = len;
        gp__cc_send_cmd(c, 2, argv);
    }
    return GP_OK;
}

static int gp__cc_unsub(gp_chancli *c, const void *name, size_t len, int is_pat) {
    gp__ccsub *s, **pp;
    gp_bytes argv[2];
    if (c == NULL || (s = gp__cc_find(c, name, len, is_pat)) == NULL) return GP_ERR_NOTFOUND;
    for (pp = &c->subs[s->hash & (c->subs_size - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == s) { *pp = s->hnext; break; }
    c->nsubs--;
    c->stats.subscriptions = c->nsubs;
    if (c->state >= GP__CC_HELLO) {
        argv[0].ptr = (const uint8_t *)(is_pat ? "PUNSUBSCRIBE" : "UNSUBSCRIBE");
        argv[0].len = is_pat ? 12 : 11;
        argv[1].ptr = s->name;
        argv[1].len = len;
        gp__cc_send_cmd(c, 2, argv);
    }
    gp__free(c->alloc_ctx, s->name, s->len + 1);
    gp__free(c->alloc_ctx, s, sizeof *s);
    return GP_OK;
}

GP_API int gp_chancli_subscribe(gp_chancli *c, const void *ch, size_t len, gp_chancli_msg_fn fn, void *user) {
    return gp__cc_sub(c, ch, len, 0, fn, user);
}

GP_API int gp_chancli_unsubscribe(gp_chancli *c, const void *ch, size_t len) { return gp__cc_unsub(c, ch, len, 0); }
GP_API int gp_chancli_psubscribe(gp_chancli *c, const void *pat, size_t len, gp_chancli_msg_fn fn, void *user) {
    return gp__cc_sub(c, pat, len, 1, fn, user);
}

GP_API int gp_chancli_punsubscribe(gp_chancli *c, const void *pat, size_t len) { return gp__cc_unsub(c, pat, len, 1); }
/* A PUBLISH (fn NULL) or a call, encoded once, held and resent like every publish. */
static int gp__cc_queue(gp_chancli *c, size_t argc, const gp_bytes *argv, gp_chancli_reply_fn fn, void *user) {
    gp_buf b;
    gp_msg *m;
    gp__ccpub *slot;
    size_t i, bytes = 0;
    for (i = 0; i < argc; i++) bytes += argv[i].len;
    if (c->pubs.count >= c->cfg.max_backlog ||
        (c->state != GP__CC_UP && c->held_bytes + bytes > c->cfg.max_backlog_bytes)) {
        c->stats.dropped++;
        return GP_ERR_FULL;
    }
    memset(&b, 0, sizeof b);
    b.alloc_ctx = c->alloc_ctx;
    if (gp_chan_put_command(&b, argc, argv) != GP_OK || (m = gp__msg_from_buf(&b)) == NULL) {
        gp_buf_free(&b);
        return GP_ERR_NOMEM;
    }
    if ((slot = (gp__ccpub *)gp__ring_push(c->alloc_ctx, &c->pubs, sizeof *slot, NULL)) == NULL) {
        gp_msg_unref(m);
        return GP_ERR_NOMEM;
    }
    slot->m = m;   /* the ring's reference */
    slot->fn = fn;
    slot->user = user;
    if (c->state == GP__CC_UP) {
        if (gp__cc_send_pub(c, m) != GP_OK) gp__cc_drop(c, "out of memory");   /* kept: resent on reconnect */
    } else {
        c->held_bytes += m->len;
    }
    return GP_OK;
}

GP_API int gp_chancli_publish(gp_chancli *c, const void *ch, size_t chlen, const void *data, size_t len) {
    gp_bytes argv[3];
    int rc;
    if (c == NULL || ch == NULL || (data == NULL && len > 0)) return GP_ERR_INVAL;
    argv[0].ptr = (const uint8_t *)"PUBLISH"; argv[0].len = 7;
    argv[1].ptr = (const uint8_t *)ch; argv[1].len = chlen;
    argv[2].ptr = (const uint8_t *)(data ? data : ""); argv[2].len = len;
    if ((rc = gp__cc_queue(c, 3, argv, NULL, NULL)) == GP_OK) c->stats.published++;
    return rc;
}

GP_API int gp_chancli_call(gp_chancli *c, size_t argc, const gp_bytes *argv, gp_chancli_reply_fn fn, void *user) {
    if (c == NULL || argc == 0 || argv == NULL || fn == NULL) return GP_ERR_INVAL;
    return gp__cc_queue(c, argc, argv, fn, user);
}

GP_API int gp_chancli_load_script(gp_chancli *c, const char *text, char sha[41]) {
    if (c == NULL || text == NULL || text[0] == '\0') return GP_ERR_INVAL;
    if (gp_buf_append(&c->scripts, text, strlen(text) + 1) != GP_OK) return GP_ERR_NOMEM;
    if (sha) gp_chan_script_sha(text, sha);
    if (c->state >= GP__CC_HELLO) gp__cc_script_load(c, text);
    return GP_OK;
}

GP_API void gp_chancli_stats_get(const gp_chancli *c, gp_chancli_stats *st) {
    if (c == NULL || st == NULL) return;
    *st = c->stats;
    st->backlog = c->pubs.count - c->nsent;
}

GP_API int gp_chancli_parse_url(const char *url, char *buf, size_t cap, gp_chancli_config *cfg) {
    char *p, *at, *hp;
    size_t n;
    if (url == NULL || buf == NULL || cfg == NULL || (n = strlen(url)) + 1 > cap) return GP_ERR_INVAL;
    memcpy(buf, url, n + 1);
    p = buf;
    if (strncmp(p, "redis://", 8) == 0) p += 8;
    at = strrchr(p, '@');
    if (at) {
        char *colon = strchr(p, ':');
        *at = '\0';
        if (colon && colon < at) {
            *colon = '\0';
            cfg->username = p[0] ? p : NULL;
            cfg->password = colon + 1;
        } else {
            cfg->password = p;
        }
        p = at + 1;
    }
    hp = p;
    {
        char *slash = strchr(hp, '/');
        if (slash) *slash = '\0';
    }
    if (strchr(hp, ':')) {
        int port;
        char *colon = strrchr(hp, ':');
        if (gp_net_split_hostport(hp, hp, (size_t)(colon - hp) + 1, &port) != GP_OK || port == 0) return GP_ERR_INVAL;
        cfg->port = port;
    } else {
        cfg->port = 6379;
    }
    cfg->host = hp[0] ? hp : "127.0.0.1";
#ifdef GP_NO_RESOLVER
    {   /* no resolver: a name could never be reached */
        struct sockaddr_storage ss;
        socklen_t len;
        if (gp__addr(cfg->host, cfg->port, 0, &ss, &len) != GP_OK) return GP_ERR_INVAL;
    }
#endif
    return GP_OK;
}


/* ==== >>sup  fork N workers + channel server, respawn, signals. Uses: >>loop ====
   The only section with process-wide state: a signal handler can reach nothing else,
   so the self-pipe it writes to is a static (one supervisor per process). */

typedef struct gp__supent {
    int pid, role, index, ready_fd, ready, retiring;
    uint64_t started;
    int restarts;
    uint64_t backoff;
} gp__supent;
struct gp_sup_child {
    const gp_sup_config *cfg;
    int role, index;
    int ready_fd, listen_fd;
    gp_sup_stats *slots;
    int nslots;
    gp_sup_stats *mine;
    uint8_t *extra;           /* nslots areas of extra_size bytes, or NULL */
    size_t extra_size;
    gp_loop *loop;
    gp_loop_fn on_stop;
    void *stop_user;
    int sigpipe[2];
};

#if GP__HAS_SUP
static int gp__sup_sigfd = -1;
static void gp__sup_on_signal(int sig) {
    int saved = errno;
    uint8_t b = (uint8_t)sig;
    if (gp__sup_sigfd >= 0) (void)!write(gp__sup_sigfd, &b, 1);
    errno = saved;
}

static int gp__sup_install(int fd, const int *sigs, int n) {
    struct sigaction sa;
    int i;
    gp__sup_sigfd = fd;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gp__sup_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (i = 0; i < n; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0) return GP_ERR_IO;
    return GP_OK;
}

static int gp__pipe(int p[2]) {
    if (pipe(p) != 0) return GP_ERR_IO;
    gp__set_nonblock(p[0]);
    gp__set_nonblock(p[1]);
    return GP_OK;
}

/* process titles: argv[0]'s own bytes (shown by ps) and the thread name (ps -o comm).
   Only argv[0] is overwritten, never the arguments after it: the caller may still hold
   pointers into them (a --password value), and a title spilling over them would erase
   those strings in every child. A title longer than argv[0] is cut. */
static char *gp__title_base;
static size_t gp__title_cap;
static void gp__title_init(int argc, char **argv) {
    if (argv == NULL || argc <= 0 || argv[0] == NULL || gp__title_base) return;
    gp__title_base = argv[0];
    gp__title_cap = strlen(argv[0]) + 1;
}

GP_API void gp_sup_set_title(gp_sup_child *ch, const char *title) {
    (void)ch;
    if (gp__title_base && gp__title_cap > 1) {
        memset(gp__title_base, 0, gp__title_cap);
        strncpy(gp__title_base, title, gp__title_cap - 1);
    }
#if GP__HAS_PRCTL
    prctl(PR_SET_NAME, title, 0, 0, 0);
#endif
}

typedef struct gp__sup {
    const gp_sup_config *cfg;
    gp_loop *loop;
    gp_sup_stats *slots;
    int nslots;
    unsigned ticks;
    gp__supent *ents;
    size_t nents, ents_cap;
    int sigpipe[2];
    int *lfds;                /* per worker index, or NULL */
    int stopping, ready_announced, exit_code;
    int channel_stopped;      /* stopping: the channel server got its SIGTERM */
    int reload_next;          /* next worker index to replace, -1 = no reload running */
    int reload_new_pid, reload_old_pid;
    uint64_t reload_deadline, stop_timer;
    gp_sup_child me;
} gp__sup;

static int gp__sup_slot(const gp__sup *s, int role, int index) {
    (void)s;
    return role == GP_SUP_MASTER ? 0 : role == GP_SUP_CHANNEL ? 1 : 2 + index;
}

static void gp__sup_ready_read(gp_loop *loop, int fd, int ev, void *user);
static int gp__sup_spawn(gp__sup *s, int role, int index, int restarts) {
    int rp[2], pid;
    size_t i;
    gp__supent *e;
    if (gp__grow(s->loop->alloc_ctx, (void **)&s->ents, &s->ents_cap, s->nents + 1, sizeof *s->ents) != GP_OK)
        return GP_ERR_NOMEM;
    if (gp__pipe(rp) != GP_OK) return GP_ERR_IO;
    fflush(NULL);   /* every stdio stream the program has: no buffered line printed twice */
    pid = fork();
    if (pid < 0) { close(rp[0]); close(rp[1]); return GP_ERR_IO; }
    if (pid == 0) {   /* child: drop everything of the master's, then run */
        gp_sup_child ch;
        char title[96];
        int code, sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR2, SIGPIPE, SIGUSR1 };
        struct sigaction sa;
        int master = getppid();
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sigaction(SIGUSR1, &sa, NULL);   /* the master's: reopen logs */
        /* a Ctrl-C reaches the whole process group: only the master acts on it, and stops
           the workers before the channel server (gp__sup_stop) */
        sigaction(SIGINT, &sa, NULL);
        gp__sup_sigfd = -1;
#if GP__HAS_PRCTL
        prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);   /* no orphan if the master dies */
#endif
        if (getppid() != master) _exit(1);
        close(rp[0]);
        close(s->sigpipe[1]);
        for (i = 0; i < s->loop->fds_cap; i++)   /* the master's sockets and pipes (on_master's too) */
            if (s->loop->fds[i].fn != NULL) close((int)i);
        memset(&ch, 0, sizeof ch);
        ch.listen_fd = -1;
        if (s->lfds) {
            for (i = 0; i < (size_t)s->cfg->workers; i++)
                if ((int)i != index || role != GP_SUP_WORKER) close(s->lfds[i]);
            if (role == GP_SUP_WORKER) ch.listen_fd = s->lfds[index];
        }
        ch.cfg = s->cfg;
        ch.role = role;
        ch.index = index;
        ch.ready_fd = rp[1];
        ch.slots = s->slots;
        ch.nslots = s->nslots;
        ch.mine = &s->slots[gp__sup_slot(s, role, index)];
        ch.extra = s->me.extra;
        ch.extra_size = s->me.extra_size;
        ch.sigpipe[0] = ch.sigpipe[1] = -1;
        memset(ch.mine, 0, sizeof *ch.mine);
        ch.mine->role = role;
        ch.mine->index = index;
        ch.mine->pid = (int32_t)getpid();
        ch.mine->restarts = restarts;
        ch.mine->started_ms = gp_time_ms();
        if (role == GP_SUP_CHANNEL) gp_fmt(title, sizeof title, "%s: channel", s->cfg->name);
        else gp_fmt(title, sizeof title, "%s: worker %d", s->cfg->name, index);
        gp_sup_set_title(&ch, title);
        code = (role == GP_SUP_CHANNEL ? s->cfg->channel_main : s->cfg->worker_main)(&ch, s->cfg->user);
        fflush(NULL);
        _exit(code);
    }
    close(rp[1]);
    e = &s->ents[s->nents++];
    memset(e, 0, sizeof *e);
    e->pid = pid;
    e->role = role;
    e->index = index;
    e->ready_fd = rp[0];
    e->started = gp_loop_now(s->loop);
    e->restarts = restarts;
    s->slots[gp__sup_slot(s, role, index)].pid = pid;
    gp_loop_watch(s->loop, rp[0], GP_LOOP_READ, gp__sup_ready_read, s);
    return GP_OK;
}

static gp__supent *gp__sup_by_fd(gp__sup *s, int fd) {
    size_t i;
    for (i = 0; i < s->nents; i++) if (s->ents[i].ready_fd == fd) return &s->ents[i];
    return NULL;
}

static void gp__sup_close_ready(gp__sup *s, gp__supent *e) {
    if (e->ready_fd < 0) return;
    gp_loop_unwatch(s->loop, e->ready_fd);
    close(e->ready_fd);
    e->ready_fd = -1;
}

static void gp__sup_reload_step(gp__sup *s);
static void gp__sup_check_ready(gp__sup *s) {
    size_t i;
    if (s->ready_announced) return;
    for (i = 0; i < s->nents; i++) if (!s->ents[i].ready) return;
    s->ready_announced = 1;
    if (s->cfg->on_ready) s->cfg->on_ready(s->cfg->user);
}

static void gp__sup_ready_read(gp_loop *loop, int fd, int ev, void *user) {
    gp__sup *s = (gp__sup *)user;
    gp__supent *e = gp__sup_by_fd(s, fd);
    uint8_t b[16];
    ssize_t r;
    (void)loop; (void)ev;
    if (e == NULL) return;
    r = read(fd, b, sizeof b);
    if (r > 0) {
        e->ready = 1;
        gp__sup_check_ready(s);
        if (s->reload_next >= 0 && e->pid == s->reload_new_pid) {   /* the new one serves: retire the old */
            if (s->reload_old_pid > 0) kill(s->reload_old_pid, SIGTERM);
            else { s->reload_next++; gp__sup_reload_step(s); }
        }
    } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        gp__sup_close_ready(s, e);
    }
}

static void gp__sup_respawn_cb(gp_loop *loop, void *user);
typedef struct gp__sup_pending { gp__sup *s; int role, index, restarts; uint64_t backoff; } gp__sup_pending;
static void gp__sup_reload_step(gp__sup *s) {
    size_t i;
    if (s->reload_next < 0 || s->stopping) return;
    if (s->reload_next >= s->cfg->workers) {
        GP__LOG(s->loop, GP_LOG_INFO, "sup", "reload done");
        s->reload_next = -1;
        return;
    }
    s->reload_old_pid = 0;
    for (i = 0; i < s->nents; i++)
        if (s->ents[i].role == GP_SUP_WORKER && s->ents[i].index == s->reload_next && !s->ents[i].retiring) {
            s->ents[i].retiring = 1;
            s->reload_old_pid = s->ents[i].pid;
        }
    if (gp__sup_spawn(s, GP_SUP_WORKER, s->reload_next, 0) != GP_OK) { s->reload_next = -1; return; }
    s->ents[s->nents - 1].ready = 0;
    s->reload_new_pid = s->ents[s->nents - 1].pid;
    s->reload_deadline = gp_loop_now(s->loop) + s->cfg->ready_timeout_ms;
}

static void gp__sup_kill_timer(gp_loop *loop, void *user);
/* Stop in order: workers first (they drain their clients, still with a channel), the
   channel server once no worker is left; SIGKILL for all after stop_timeout_ms. */
static void gp__sup_stop_channel(gp__sup *s) {
    size_t k;
    if (s->channel_stopped) return;
    for (k = 0; k < s->nents; k++) if (s->ents[k].role == GP_SUP_WORKER) return;
    s->channel_stopped = 1;
    for (k = 0; k < s->nents; k++) if (s->ents[k].role == GP_SUP_CHANNEL) kill(s->ents[k].pid, SIGTERM);
}

static void gp__sup_stop(gp__sup *s) {
    size_t k;
    if (s->stopping) return;
    s->stopping = 1;
    if (s->cfg->on_master) s->cfg->on_master(&s->me, s->loop, GP_SUP_PHASE_STOP, s->cfg->user);
    for (k = 0; k < s->nents; k++) if (s->ents[k].role == GP_SUP_WORKER) kill(s->ents[k].pid, SIGTERM);
    gp__sup_stop_channel(s);
    s->stop_timer = gp_loop_timer_start(s->loop, s->cfg->stop_timeout_ms, 0, gp__sup_kill_timer, s);
    if (s->nents == 0) gp_loop_stop(s->loop);
}

static void gp__sup_reap(gp__sup *s) {
    for (;;) {
        int status, pid = waitpid(-1, &status, WNOHANG);
        size_t i;
        if (pid <= 0) break;
        for (i = 0; i < s->nents; i++) {
            gp__supent e = s->ents[i];
            if (e.pid != pid) continue;
            gp__sup_close_ready(s, &s->ents[i]);
            s->ents[i] = s->ents[--s->nents];
            if (s->stopping) { gp__sup_stop_channel(s); break; }
            if (e.retiring) {   /* replaced during a reload: go on with the next one */
                if (s->reload_next >= 0 && pid == s->reload_old_pid) { s->reload_next++; gp__sup_reload_step(s); }
                break;
            }
            if (!s->ready_announced) {   /* fail fast: a deployment that cannot start stops */
                char how[32];
                if (WIFSIGNALED(status)) gp_fmt(how, sizeof how, "killed by signal %d", WTERMSIG(status));
                else gp_fmt(how, sizeof how, "exited with %d", WEXITSTATUS(status));
                GP__LOG(s->loop, GP_LOG_ERROR, "sup", "%s %d (pid %d) %s before the deployment was ready; stopping",
                        e.role == GP_SUP_CHANNEL ? "channel server" : "worker", e.index, pid, how);
                s->exit_code = 1;
                gp__sup_stop(s);
                break;
            }
            if (WIFSIGNALED(status))
                GP__LOG(s->loop, GP_LOG_WARN, "sup", "%s %d (pid %d) killed by signal %d, restarting",
                        e.role == GP_SUP_CHANNEL ? "channel server" : "worker", e.index, pid, WTERMSIG(status));
            else
                GP__LOG(s->loop, GP_LOG_WARN, "sup", "%s %d (pid %d) exited with %d, restarting",
                        e.role == GP_SUP_CHANNEL ? "channel server" : "worker", e.index, pid, WEXITSTATUS(status));
            {
                /* a crash soon after start doubles the delay (crash loop), else restart at once */
                uint64_t up = gp_loop_now(s->loop) - e.started;
                uint64_t delay = up < 1000 ? (e.backoff ? GP__MIN(e.backoff * 2, (uint64_t)5000) : 100) : 0;
                gp__sup_pending *p = (gp__sup_pending *)gp__malloc(s->loop->alloc_ctx, sizeof *p);
                if (p == NULL) break;
                p->s = s; p->role = e.role; p->index = e.index; p->restarts = e.restarts + 1; p->backoff = delay;
                if (e.pid == s->reload_new_pid && s->reload_next >= 0) {   /* the replacement died */
                    size_t j;
                    for (j = 0; j < s->nents; j++)
                        if (s->ents[j].pid == s->reload_old_pid) s->ents[j].retiring = 0;
                    s->reload_next = -1;
                    gp__free(s->loop->alloc_ctx, p, sizeof *p);
                    break;
                }
                if (gp_loop_timer_start(s->loop, delay, 0, gp__sup_respawn_cb, p) == 0)
                    gp__free(s->loop->alloc_ctx, p, sizeof *p);
            }
            break;
        }
    }
    if (s->stopping && s->nents == 0) gp_loop_stop(s->loop);
}

static void gp__sup_respawn_cb(gp_loop *loop, void *user) {
    gp__sup_pending *p = (gp__sup_pending *)user;
    gp__sup *s = p->s;
    (void)loop;
    if (!s->stopping && gp__sup_spawn(s, p->role, p->index, p->restarts) == GP_OK) {
        gp__supent *e = &s->ents[s->nents - 1];
        e->ready = 1;   /* the ready line is about the first start */
        e->backoff = p->backoff;
    }
    gp__free(s->loop->alloc_ctx, p, sizeof *p);
}

static void gp__sup_kill_timer(gp_loop *loop, void *user) {
    gp__sup *s = (gp__sup *)user;
    size_t i;
    (void)loop;
    for (i = 0; i < s->nents; i++) kill(s->ents[i].pid, SIGKILL);
}

static void gp__sup_print_status(gp__sup *s) {
    gp_buf b;
    memset(&b, 0, sizeof b);
    if (gp_sup_status_json(&s->me, &b) == GP_OK) {
        gp_print(1, "%.*s\n", (int)b.len, (const char *)b.data);
    }
    gp_buf_free(&b);
}

static void gp__sup_signal(gp_loop *loop, int fd, int ev, void *user) {
    gp__sup *s = (gp__sup *)user;
    uint8_t sigs[32];
    ssize_t n, i;
    (void)ev;
    while ((n = read(fd, sigs, sizeof sigs)) > 0) {
        for (i = 0; i < n; i++) {
            switch (sigs[i]) {
            case SIGINT: case SIGTERM:
                if (s->stopping) break;
                GP__LOG(loop, GP_LOG_INFO, "sup", "stopping %lu processes", (unsigned long)s->nents);
                gp__sup_stop(s);
                break;
            case SIGHUP:
                if (s->stopping || s->reload_next >= 0) break;
                GP__LOG(loop, GP_LOG_INFO, "sup", "reloading %d workers one at a time", s->cfg->workers);
                s->reload_next = 0;
                gp__sup_reload_step(s);
                break;
            case SIGCHLD:
                gp__sup_reap(s);
                break;
            case SIGUSR2:
                gp__sup_print_status(s);
                break;
            case SIGUSR1:
                if (s->cfg->on_reopen) s->cfg->on_reopen(s->cfg->user);
                break;
            default: break;
            }
        }
    }
}

static void gp__sup_tick(gp_loop *loop, void *user) {
    gp__sup *s = (gp__sup *)user;
    int k, all = s->ticks++ % 10 == 0;   /* once a second, and a new process at once */
    for (k = 0; k < s->nslots; k++)
        if (s->slots[k].pid > 0 && (all || s->slots[k].rss_kb == 0)) s->slots[k].rss_kb = gp__rss_kb((int)s->slots[k].pid);
    if (s->reload_next >= 0 && gp_loop_now(loop) > s->reload_deadline) {
        size_t i;   /* the replacement never said ready: keep the old one, stop reloading */
        GP__LOG(loop, GP_LOG_WARN, "sup", "worker %d did not become ready; reload stopped", s->reload_next);
        for (i = 0; i < s->nents; i++) if (s->ents[i].pid == s->reload_old_pid) s->ents[i].retiring = 0;
        if (s->reload_new_pid > 0) kill(s->reload_new_pid, SIGKILL);
        s->reload_next = -1;
    }
}

static void gp__sup_defaults(gp_sup_config *cfg) {
    GP__DEF(cfg->workers, 8);
    GP__DEF(cfg->name, "grouppush");
    GP__DEF(cfg->stop_timeout_ms, 4000);
    GP__DEF(cfg->ready_timeout_ms, 10000);
}

GP_API int gp_sup_run(const gp_sup_config *cfg_in) {
    gp__sup s;
    gp_sup_config cfg;
    gp_loop_config lc;
    int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR2, SIGUSR1 }, i, rc;
    size_t bytes, extra;
    if (cfg_in == NULL || cfg_in->worker_main == NULL) return GP_ERR_INVAL;
    cfg = *cfg_in;
    gp__sup_defaults(&cfg);
    memset(&s, 0, sizeof s);
    s.cfg = &cfg;
    s.reload_next = -1;
    s.nslots = 2 + cfg.workers;
    extra = (cfg.extra_bytes + 15) & ~(size_t)15;
    bytes = (size_t)s.nslots * (sizeof(gp_sup_stats) + extra);
#ifdef MAP_ANONYMOUS
    s.slots = (gp_sup_stats *)mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
#else
    {
        int zfd = open("/dev/zero", O_RDWR);
        s.slots = (gp_sup_stats *)mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, zfd, 0);
        if (zfd >= 0) close(zfd);
    }
#endif
    if (s.slots == (gp_sup_stats *)MAP_FAILED) return GP_ERR_IO;
    memset(s.slots, 0, bytes);
    s.slots[0].role = GP_SUP_MASTER;
    s.slots[0].pid = (int32_t)getpid();
    s.slots[0].started_ms = gp_time_ms();
    memset(&lc, 0, sizeof lc);
    lc.log_fn = cfg.log_fn;
    lc.log_user = cfg.log_user;
    if ((rc = gp_loop_create(&lc, &s.loop)) != GP_OK) { munmap(s.slots, bytes); return rc; }
    s.me.cfg = &cfg;
    s.me.role = GP_SUP_MASTER;
    s.me.slots = s.slots;
    s.me.nslots = s.nslots;
    s.me.mine = &s.slots[0];
    s.me.extra = extra ? (uint8_t *)(s.slots + s.nslots) : NULL;
    s.me.extra_size = extra;
    s.me.ready_fd = -1;
    s.me.listen_fd = -1;
    gp__title_init(cfg.argc, cfg.argv);
    {
        char title[96];
        gp_fmt(title, sizeof title, "%s: master", cfg.name);
        gp_sup_set_title(&s.me, title);
    }
    if (gp__pipe(s.sigpipe) != GP_OK || gp__sup_install(s.sigpipe[1], sigs, 6) != GP_OK ||
        gp_loop_watch(s.loop, s.sigpipe[0], GP_LOOP_READ, gp__sup_signal, &s) != GP_OK) {
        gp_loop_destroy(s.loop);
        munmap(s.slots, bytes);
        return GP_ERR_IO;
    }
    if (cfg.listen_port > 0) {
        /* One deployment per address. SO_REUSEPORT would let a second master (same user)
           join our port silently, so first bind it once WITHOUT SO_REUSEPORT: that fails
           while any socket listens there (ours of an earlier deployment, or any program's).
           Our own respawns and reloads never probe: they take over the master's sockets. */
        int probe = -1;
        rc = gp_net_listen(cfg.listen_host, cfg.listen_port, 0, 0, &probe);
        if (rc != GP_OK) {
            int err = errno;
            GP__LOG(s.loop, GP_LOG_ERROR, "sup", "cannot listen on %s:%d: %s%s",
                    cfg.listen_host ? cfg.listen_host : "0.0.0.0", cfg.listen_port, strerror(err),
                    err == EADDRINUSE ? " (another program, or another deployment, listens there)" : "");
        } else {
            close(probe);
        }
    }
    if (rc == GP_OK && cfg.listen_port > 0) {
        s.lfds = (int *)gp__calloc(NULL, (size_t)cfg.workers * sizeof *s.lfds);
        for (i = 0; s.lfds && i < cfg.workers; i++) s.lfds[i] = -1;
        for (i = 0; s.lfds && i < cfg.workers && rc == GP_OK; i++)
            rc = gp_net_listen(cfg.listen_host, cfg.listen_port, 0, GP_NET_REUSEPORT, &s.lfds[i]);
        if (s.lfds == NULL) rc = GP_ERR_NOMEM;
        if (rc != GP_OK) GP__LOG(s.loop, GP_LOG_ERROR, "sup", "cannot listen on %s:%d: %s",
                                 cfg.listen_host ? cfg.listen_host : "0.0.0.0", cfg.listen_port, strerror(errno));
    }
    if (rc == GP_OK && cfg.on_master && cfg.on_master(&s.me, s.loop, GP_SUP_PHASE_START, cfg.user) != 0) {
        rc = GP_ERR_INVAL;   /* it said why */
        cfg.on_master = NULL;
    }
    if (rc == GP_OK && cfg.channel_main && gp__sup_spawn(&s, GP_SUP_CHANNEL, 0, 0) != GP_OK) rc = GP_ERR_IO;
    for (i = 0; rc == GP_OK && i < cfg.workers; i++) rc = gp__sup_spawn(&s, GP_SUP_WORKER, i, 0);
    if (rc != GP_OK) {
        size_t k;
        for (k = 0; k < s.nents; k++) kill(s.ents[k].pid, SIGTERM);
    } else {
        gp_loop_timer_start(s.loop, 100, 100, gp__sup_tick, &s);
        gp_loop_run(s.loop);
    }
    {   /* reap whatever is left */
        size_t k;
        for (k = 0; k < s.nents; k++) { waitpid(s.ents[k].pid, NULL, 0); gp__sup_close_ready(&s, &s.ents[k]); }
    }
    if (cfg.on_master) cfg.on_master(&s.me, s.loop, GP_SUP_PHASE_EXIT, cfg.user);
    signal(SIGCHLD, SIG_DFL);
    gp__sup_sigfd = -1;
    close(s.sigpipe[0]);
    close(s.sigpipe[1]);
    gp__free(s.loop->alloc_ctx, s.ents, s.ents_cap * sizeof *s.ents);
    if (s.lfds) {
        for (i = 0; i < cfg.workers; i++) if (s.lfds[i] >= 0) close(s.lfds[i]);
        gp__free(NULL, s.lfds, (size_t)cfg.workers * sizeof *s.lfds);
    }
    gp_loop_destroy(s.loop);
    munmap(s.slots, bytes);
    return rc == GP_OK && s.exit_code == 0 ? 0 : 1;
}

GP_API void gp_sup_ready(gp_sup_child *ch) {
    if (ch && ch->ready_fd >= 0) {
        (void)!write(ch->ready_fd, "R", 1);
        close(ch->ready_fd);
        ch->ready_fd = -1;
    }
}

static void gp__sup_child_signal(gp_loop *loop, int fd, int ev, void *user) {
    gp_sup_child *ch = (gp_sup_child *)user;
    uint8_t b[16];
    (void)ev;
    while (read(fd, b, sizeof b) > 0) {}
    if (ch->on_stop) ch->on_stop(loop, ch->stop_user);
}

GP_API int gp_sup_watch(gp_sup_child *ch, gp_loop *loop, gp_loop_fn on_stop, void *user) {
    int sigs[] = { SIGTERM };
    if (ch == NULL || loop == NULL) return GP_ERR_INVAL;
    if (gp__pipe(ch->sigpipe) != GP_OK) return GP_ERR_IO;
    ch->loop = loop;
    ch->on_stop = on_stop;
    ch->stop_user = user;
    if (gp__sup_install(ch->sigpipe[1], sigs, 1) != GP_OK) return GP_ERR_IO;
    return gp_loop_watch(loop, ch->sigpipe[0], GP_LOOP_READ, gp__sup_child_signal, ch);
}

GP_API gp_sup_stats *gp_sup_my_stats(gp_sup_child *ch) {
    if (ch == NULL || ch->mine == NULL || ch->mine->pid != (int32_t)getpid()) return NULL;
    return ch->mine;
}

GP_API gp_sup_stats *gp_sup_slot(gp_sup_child *ch, int i, void **extra) {
    if (extra) *extra = NULL;
    if (ch == NULL || ch->slots == NULL) return NULL;
    if (i == -1) i = (int)(ch->mine - ch->slots);
    if (i < 0 || i >= ch->nslots) return NULL;
    if (extra && ch->extra) *extra = ch->extra + (size_t)i * ch->extra_size;
    return &ch->slots[i];
}

GP_API int gp_sup_status_json(gp_sup_child *ch, gp_buf *b) {
    int i;
    static const char roles[][8] = { "master", "channel", "worker" };   /* no pointers: see gp_log_stderr */
    uint64_t now = gp_time_ms();
    if (ch == NULL || b == NULL) return GP_ERR_INVAL;
    if (gp__buf_puts(b, "{\"processes\":[") != GP_OK) return GP_ERR_NOMEM;
    for (i = 0; i < ch->nslots; i++) {
        const gp_sup_stats *st = &ch->slots[i];
        if (st->pid == 0) continue;
        if (gp__buf_printf(b, "%s{\"role\":\"%s\",\"index\":%d,\"pid\":%d,\"restarts\":%d,\"rss_kb\":%llu,"
                              "\"connections\":%llu,\"groups\":%llu,\"memberships\":%llu,"
                              "\"msgs_in\":%llu,\"msgs_out\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
                              "\"slow_drops\":%llu,\"reconnects\":%llu,\"uptime_ms\":%llu}",
                           b->data[b->len - 1] == '[' ? "" : ",", roles[st->role >= 0 && st->role <= 2 ? st->role : 0],
                           (int)st->index, (int)st->pid, (int)st->restarts,
                           (unsigned long long)gp__rss_kb((int)st->pid), (unsigned long long)st->connections,
                           (unsigned long long)st->groups, (unsigned long long)st->memberships,
                           (unsigned long long)st->msgs_in, (unsigned long long)st->msgs_out,
                           (unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out,
                           (unsigned long long)st->slow_drops, (unsigned long long)st->reconnects,
                           (unsigned long long)(now - GP__MIN(now, st->started_ms))) != GP_OK)
            return GP_ERR_NOMEM;
    }
    return gp__buf_puts(b, "]}");
}
#else /* !GP__HAS_SUP */
GP_API int  gp_sup_run(const gp_sup_config *cfg) { (void)cfg; return GP_ERR_INVAL; }
GP_API void gp_sup_ready(gp_sup_child *ch) { (void)ch; }
GP_API int  gp_sup_watch(gp_sup_child *ch, gp_loop *loop, gp_loop_fn on_stop, void *user) {
    (void)ch; (void)loop; (void)on_stop; (void)user;
    return GP_ERR_INVAL;
}

GP_API gp_sup_stats *gp_sup_my_stats(gp_sup_child *ch) { (void)ch; return NULL; }
GP_API gp_sup_stats *gp_sup_slot(gp_sup_child *ch, int i, void **extra) {
    (void)ch; (void)i;
    if (extra) *extra = NULL;
    return NULL;
}
GP_API int  gp_sup_status_json(gp_sup_child *ch, gp_buf *b) { (void)ch; (void)b; return GP_ERR_INVAL; }
GP_API void gp_sup_set_title(gp_sup_child *ch, const char *title) { (void)ch; (void)title; }
#endif
GP_API int gp_sup_role(const gp_sup_child *ch) { return ch ? ch->role : -1; }
GP_API int gp_sup_listen_fd(const gp_sup_child *ch) { return ch ? ch->listen_fd : -1; }
GP_API int gp_sup_index(const gp_sup_child *ch) { return ch ? ch->index : -1; }

/* ==== >>json  RFC 8259 reader (tokens, no recursion) and string writer. Pure. Uses: >>util ==== */

/* JSON reader: iterative, explicit stack of open containers (no recursion). */
static size_t gp__json_ws(const uint8_t *s, size_t i, size_t n) {
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
    return i;
}

/* Scan a string starting at the opening quote; returns index after the closing quote or 0. */
static size_t gp__json_string(const uint8_t *s, size_t i, size_t n) {
    for (i++; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"') return i + 1;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++i >= n) return 0;
            c = s[i];
            if (c == 'u') {
                int k;
                for (k = 1; k <= 4; k++)
                    if (i + (size_t)k >= n || gp__hexval(s[i + (size_t)k]) < 0) return 0;
                i += 4;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return 0;
            }
        }
    }
    return 0;
}

static size_t gp__json_number(const uint8_t *s, size_t i, size_t n) {
    size_t st;
    if (i < n && s[i] == '-') i++;
    if (i >= n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9') { while (i < n && s[i] >= '0' && s[i] <= '9') i++; }
    else return 0;
    if (i < n && s[i] == '.') {
        st = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == st) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        st = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == st) return 0;
    }
    return i;
}

GP_API int gp_json_parse(const uint8_t *s, size_t n, gp_json_tok *toks, size_t max) {
    int stack[32];
    int depth = 0;
    size_t nt = 0, i = 0;
    int expect_key = 0;   /* inside an object, before a key */
    int need_value = 1;   /* a value must come next */
    int after_key = 0;    /* a key was read: ':' then value */
    if (max > INT_MAX) max = INT_MAX;
    for (;;) {
        i = gp__json_ws(s, i, n);
        if (i >= n) break;
        if (after_key) {
            if (s[i] != ':') return GP_ERR_PROTOCOL;
            i++;
            after_key = 0;
            need_value = 1;
            continue;
        }
        if (!need_value && !expect_key) {
            /* after a value: ',' or a closer, or end of document */
            if (depth == 0) return GP_ERR_PROTOCOL;
            if (s[i] == ',') {
                i++;
                if (toks[stack[depth - 1]].type == GP_JSON_OBJECT) expect_key = 1;
                else need_value = 1;
                continue;
            }
            if ((s[i] == '}' && toks[stack[depth - 1]].type == GP_JSON_OBJECT) ||
                (s[i] == ']' && toks[stack[depth - 1]].type == GP_JSON_ARRAY)) {
                gp_json_tok *t = &toks[stack[--depth]];
                t->end = i + 1;
                t->next = nt;
                i++;
                continue;
            }
            return GP_ERR_PROTOCOL;
        }
        if (depth == 0 && nt > 0) return GP_ERR_PROTOCOL;
        /* closing an empty container */
        if ((s[i] == '}' || s[i] == ']') && depth > 0 &&
            toks[stack[depth - 1]].size == 0 &&
            ((s[i] == '}' && expect_key && toks[stack[depth - 1]].type == GP_JSON_OBJECT) ||
             (s[i] == ']' && need_value && toks[stack[depth - 1]].type == GP_JSON_ARRAY))) {
            gp_json_tok *t = &toks[stack[--depth]];
            t->end = i + 1;
            t->next = nt;
            expect_key = 0;
            need_value = 0;
            i++;
            continue;
        }
        if (nt >= max) return GP_ERR_TOO_BIG;
        {
            gp_json_tok *t = &toks[nt];
            size_t e;
            t->start = i;
            t->size = 0;
            if (depth > 0) toks[stack[depth - 1]].size++;
            if (expect_key) {
                if (s[i] != '"' || (e = gp__json_string(s, i, n)) == 0) return GP_ERR_PROTOCOL;
                t->type = GP_JSON_STRING; t->start = i + 1; t->end = e - 1; t->next = nt + 1;
                nt++; i = e; expect_key = 0; after_key = 1;
                continue;
            }
            switch (s[i]) {
            case '{': case '[':
                if (depth >= 32) return GP_ERR_TOO_BIG;
                t->type = s[i] == '{' ? GP_JSON_OBJECT : GP_JSON_ARRAY;
                stack[depth++] = (int)nt;
                nt++; i++;
                if (t->type == GP_JSON_OBJECT) { expect_key = 1; need_value = 0; }
                else need_value = 1;
                continue;
            case '"':
                if ((e = gp__json_string(s, i, n)) == 0) return GP_ERR_PROTOCOL;
                t->type = GP_JSON_STRING; t->start = i + 1; t->end = e - 1;
                break;
            case 't':
                if (n - i < 4 || memcmp(s + i, "true", 4) != 0) return GP_ERR_PROTOCOL;
                t->type = GP_JSON_TRUE; e = i + 4; t->end = e;
                break;
            case 'f':
                if (n - i < 5 || memcmp(s + i, "false", 5) != 0) return GP_ERR_PROTOCOL;
                t->type = GP_JSON_FALSE; e = i + 5; t->end = e;
                break;
            case 'n':
                if (n - i < 4 || memcmp(s + i, "null", 4) != 0) return GP_ERR_PROTOCOL;
                t->type = GP_JSON_NULL; e = i + 4; t->end = e;
                break;
            default:
                if ((e = gp__json_number(s, i, n)) == 0) return GP_ERR_PROTOCOL;
                t->type = GP_JSON_NUMBER; t->end = e;
                break;
            }
            t->next = nt + 1;
            nt++;
            i = e;
            need_value = 0;
        }
    }
    if (nt == 0 || depth != 0 || need_value || expect_key || after_key) return GP_ERR_PROTOCOL;
    return (int)nt;
}

/* Compare an escaped JSON string token with a plain C string. */
static int gp__json_eq(const uint8_t *text, const gp_json_tok *t, const char *key) {
    uint8_t tmp[64];
    long n;
    size_t kl = strlen(key);
    if (t->type != GP_JSON_STRING) return 0;
    if (memchr(text + t->start, '\\', t->end - t->start) == NULL)
        return t->end - t->start == kl && memcmp(text + t->start, key, kl) == 0;
    n = gp_json_unescape(text, t, tmp, sizeof tmp);
    return n >= 0 && (size_t)n == kl && memcmp(tmp, key, kl) == 0;
}

GP_API int gp_json_find(const uint8_t *text, const gp_json_tok *toks, int obj, const char *key) {
    size_t i, k;
    if (obj < 0 || toks[obj].type != GP_JSON_OBJECT) return -1;
    i = (size_t)obj + 1;
    for (k = 0; k < toks[obj].size / 2; k++) {
        if (gp__json_eq(text, &toks[i], key)) return (int)i + 1;
        i = toks[i + 1].next;
    }
    return -1;
}

static size_t gp__utf8_put(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | (cp >> 6)); o[1] = (uint8_t)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12)); o[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
        o[2] = (uint8_t)(0x80 | (cp & 63)); return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18)); o[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)); o[3] = (uint8_t)(0x80 | (cp & 63));
    return 4;
}

static uint32_t gp__hex4(const uint8_t *p) {
    return (uint32_t)((gp__hexval(p[0]) << 12) | (gp__hexval(p[1]) << 8) |
                      (gp__hexval(p[2]) << 4) | gp__hexval(p[3]));
}

GP_API long gp_json_unescape(const uint8_t *text, const gp_json_tok *t, uint8_t *out, size_t cap) {
    size_t i = t->start, o = 0;
    while (i < t->end) {
        uint8_t c = text[i];
        uint8_t tmp[4];
        size_t k = 1;
        if (c != '\\') {
            const uint8_t *bs = (const uint8_t *)memchr(text + i, '\\', t->end - i);
            size_t run = bs ? (size_t)(bs - (text + i)) : t->end - i;
            if (run > cap - o) return GP_ERR_TOO_BIG;
            memcpy(out + o, text + i, run);
            o += run; i += run;
            continue;
        }
        c = text[i + 1];
        i += 2;
        switch (c) {
        case 'b': tmp[0] = '\b'; break;
        case 'f': tmp[0] = '\f'; break;
        case 'n': tmp[0] = '\n'; break;
        case 'r': tmp[0] = '\r'; break;
        case 't': tmp[0] = '\t'; break;
        case 'u': {
            uint32_t cp = gp__hex4(text + i);
            i += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return GP_ERR_PROTOCOL;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (i + 6 > t->end || text[i] != '\\' || text[i + 1] != 'u') return GP_ERR_PROTOCOL;
                lo = gp__hex4(text + i + 2);
                if (lo < 0xDC00 || lo > 0xDFFF) return GP_ERR_PROTOCOL;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            k = gp__utf8_put(tmp, cp);
            break;
        }
        default: tmp[0] = c; break;   /* " \ / */
        }
        if (k > cap - o) return GP_ERR_TOO_BIG;
        memcpy(out + o, tmp, k);
        o += k;
    }
    return (long)o;
}

GP_API int gp_json_put_string(gp_buf *b, const void *sv, size_t n) {
    const uint8_t *s = (const uint8_t *)sv;
    size_t i, run = 0;
    if (gp_buf_reserve(b, n + 2) != GP_OK) return GP_ERR_NOMEM;
    b->data[b->len++] = '"';
    for (i = 0; i < n; i++) {
        uint8_t c = s[i];
        char esc[8];
        if (c >= 0x20 && c != '"' && c != '\\') { run++; continue; }
        if (gp_buf_append(b, s + i - run, run) != GP_OK) return GP_ERR_NOMEM;
        run = 0;
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; esc[2] = 0; }
        else if (c == '\n') strcpy(esc, "\\n");
        else if (c == '\r') strcpy(esc, "\\r");
        else if (c == '\t') strcpy(esc, "\\t");
        else gp_fmt(esc, sizeof esc, "\\u%04x", c);
        if (gp__buf_puts(b, esc) != GP_OK) return GP_ERR_NOMEM;
    }
    if (gp_buf_append(b, s + n - run, run) != GP_OK) return GP_ERR_NOMEM;
    return gp_buf_append(b, "\"", 1);
}

/* ==== >>jwt  JWT (RFC 7519) verification, HS256 only. Pure. Uses: >>util (HMAC-SHA256,
   base64url) >>json >>chan (the glob matcher PSUBSCRIBE uses) ==== */

typedef struct gp__jwt_work {
    gp_json_tok *toks;
    size_t ntoks;
    uint8_t *text, *end;    /* decoded JSON, then unescaped claims: [text, end) */
} gp__jwt_work;

/* base64url part -> JSON object in w->text; returns the token count or < 0. */
static int gp__jwt_json(gp__jwt_work *w, const uint8_t *p, size_t n, uint8_t **text, size_t *tlen) {
    long dl = gp__b64url_decode(p, n, w->text, (size_t)(w->end - w->text));
    int nt;
    if (dl < 0) return GP_ERR_PROTOCOL;
    *text = w->text;
    *tlen = (size_t)dl;
    w->text += dl;
    nt = gp_json_parse(*text, *tlen, w->toks, w->ntoks);
    if (nt < 0 || w->toks[0].type != GP_JSON_OBJECT) return GP_ERR_PROTOCOL;
    return nt;
}

/* NumericDate (RFC 7519 section 2): an integer or a fraction (cut off), at most 15 digits. */
static int gp__jwt_date(const uint8_t *s, const gp_json_tok *t, int64_t *out) {
    size_t i = t->start, digits = 0;
    int neg = 0;
    int64_t v = 0;
    if (t->type != GP_JSON_NUMBER) return 0;
    if (s[i] == '-') { neg = 1; i++; }
    for (; i < t->end && s[i] >= '0' && s[i] <= '9'; i++) {
        if (++digits > 15) return 0;
        v = v * 10 + (s[i] - '0');
    }
    for (; i < t->end; i++)   /* what is left: a fraction (cut off), or an exponent (refused) */
        if (s[i] == 'e' || s[i] == 'E') return 0;
    *out = neg ? -v : v;
    return 1;
}

/* An array of strings -> packed list (2-byte length + bytes each) at w->text. */
static int gp__jwt_list(gp__jwt_work *w, const uint8_t *s, int arr, gp_bytes *out) {
    const gp_json_tok *t = &w->toks[arr];
    size_t k, i = (size_t)arr + 1;
    out->ptr = w->text;
    if (t->type != GP_JSON_ARRAY) return 0;
    for (k = 0; k < t->size; k++, i = w->toks[i].next) {
        long n;
        if (w->toks[i].type != GP_JSON_STRING || w->end - w->text < 2) return 0;
        n = gp_json_unescape(s, &w->toks[i], w->text + 2, GP__MIN((size_t)(w->end - w->text) - 2, (size_t)65535));
        if (n < 0) return 0;
        gp__be16(w->text, (uint32_t)n);
        w->text += 2 + n;
    }
    out->len = (size_t)(w->text - out->ptr);
    return 1;
}

GP_API int gp_jwt_verify(const gp_jwt_config *cfg, const uint8_t *tok, size_t len, int64_t now,
                         void *work, size_t cap, gp_jwt *out) {
    static const char *const names[] = { "sub", "exp", "nbf", "groups", "publish", "send_to_uid" };
    gp__jwt_work w;
    const uint8_t *d1, *d2;
    uint8_t *text, mac[32], sig[33];
    size_t tlen, i, k, skip;
    int nt, key, seen = 0;
    uintptr_t base;
    if (out == NULL) return GP_ERR_INVAL;
    memset(out, 0, sizeof *out);
    out->exp = INT64_MAX;
    out->nbf = INT64_MIN;
    out->key = -1;
    out->error = "bad arguments";
    if (cfg == NULL || cfg->secret[0].len == 0 || (tok == NULL && len > 0) || work == NULL) return GP_ERR_INVAL;
    out->error = "token too long";
    if (len > ((size_t)-1) / 4 || cap < GP_JWT_WORK_SIZE(len)) return GP_ERR_TOO_BIG;
    base = ((uintptr_t)work + 15u) & ~(uintptr_t)15u;   /* tokens first, aligned */
    w.toks = (gp_json_tok *)(void *)base;
    w.ntoks = len / 2 + 2;
    w.text = (uint8_t *)(void *)(w.toks + w.ntoks);
    w.end = (uint8_t *)work + cap;
    out->error = "malformed token";
    if ((d1 = (const uint8_t *)memchr(tok, '.', len)) == NULL ||
        (d2 = (const uint8_t *)memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok))) == NULL ||
        memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)) != NULL)
        return GP_ERR_PROTOCOL;
    /* the header (RFC 7515 4.1): alg must be HS256; crit names extensions we lack */
    out->error = "malformed header";
    if ((nt = gp__jwt_json(&w, tok, (size_t)(d1 - tok), &text, &tlen)) < 0) return GP_ERR_PROTOCOL;
    nt = gp_json_find(text, w.toks, 0, "alg");
    out->error = "alg is not HS256";
    if (nt < 0 || !gp__json_eq(text, &w.toks[nt], "HS256")) return GP_ERR_PROTOCOL;
    out->error = "crit header not supported";
    if (gp_json_find(text, w.toks, 0, "crit") >= 0) return GP_ERR_PROTOCOL;
    /* the signature, over the ASCII of header.payload, against each secret */
    out->error = "bad signature";
    if (gp__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), sig, sizeof sig) != 32) return GP_ERR_PROTOCOL;
    for (key = 0; key < 2; key++) {
        if (cfg->secret[key].len == 0) continue;
        gp_hmac_sha256(cfg->secret[key].ptr, cfg->secret[key].len, tok, (size_t)(d2 - tok), mac);
        if (gp_ct_equal(mac, sig, 32)) break;
    }
    if (key == 2) return GP_ERR_PROTOCOL;
    out->key = key;
    /* the claims */
    out->error = "payload is not a JSON object";
    if ((nt = gp__jwt_json(&w, d1 + 1, (size_t)(d2 - d1 - 1), &text, &tlen)) < 0) return GP_ERR_PROTOCOL;
    out->sub.ptr = out->groups.ptr = out->publish.ptr = out->send_to_uid.ptr = w.text;
    for (i = 1, skip = 0; skip < w.toks[0].size / 2; skip++, i = w.toks[i + 1].next) {
        const gp_json_tok *v = &w.toks[i + 1];
        for (k = 0; k < sizeof names / sizeof names[0]; k++)
            if (gp__json_eq(text, &w.toks[i], names[k])) break;
        if (k == sizeof names / sizeof names[0]) continue;
        out->error = "a claim appears twice";
        if (seen & (1 << k)) return GP_ERR_PROTOCOL;
        seen |= 1 << k;
        out->error = k == 0 ? "sub is not a string" : k <= 2 ? "exp/nbf is not a NumericDate"
                                                            : "groups/publish/send_to_uid is not an array of strings";
        if (k == 0) {
            long n;
            if (v->type != GP_JSON_STRING) return GP_ERR_PROTOCOL;
            if ((n = gp_json_unescape(text, v, w.text, (size_t)(w.end - w.text))) < 0) return GP_ERR_PROTOCOL;
            out->sub.ptr = w.text;
            out->sub.len = (size_t)n;
            w.text += n;
        } else if (k <= 2) {
            if (!gp__jwt_date(text, v, k == 1 ? &out->exp : &out->nbf)) return GP_ERR_PROTOCOL;
        } else if (!gp__jwt_list(&w, text, (int)(i + 1), k == 3 ? &out->groups : k == 4 ? &out->publish
                                                                                         : &out->send_to_uid)) {
            return GP_ERR_PROTOCOL;
        }
    }
    /* RFC 7519 4.1.4, 4.1.5: valid from nbf until before exp, give or take the skew */
    out->error = "token expired";
    if (out->exp != INT64_MAX && now - cfg->skew >= out->exp) return GP_ERR_PROTOCOL;
    out->error = "token not valid yet";
    if (out->nbf != INT64_MIN && now + cfg->skew < out->nbf) return GP_ERR_PROTOCOL;
    out->error = NULL;
    return GP_OK;
}

GP_API int gp_jwt_match(gp_bytes pats, const void *name, size_t len) {
    size_t i = 0;
    while (i + 2 <= pats.len) {
        size_t n = gp__rd16(pats.ptr + i);
        if (n > pats.len - i - 2) return 0;
        if (gp_chan_glob_match(pats.ptr + i + 2, n, (const uint8_t *)name, len)) return 1;
        i += 2 + n;
    }
    return 0;
}

/* ==== >>app  the group-push protocol (JSON commands). Uses: the public API, and >>util's
   allocator wrappers (so GP_MALLOC and alloc_ctx apply); nothing else private ==== */

/* Per-connection state, kept only when tokens or on_connect are configured (else no
   memory is spent on it): one block holding the user id and the token's pattern lists. */
enum { GP__AUTH_NONE = 0, GP__AUTH_OK, GP__AUTH_EXPIRED };
typedef struct gp__app_conn {
    gp_app *app;
    uint32_t id;                /* the gp_conn_id it belongs to */
    int auth;                   /* GP__AUTH_* (tokens on) */
    const char *why;            /* a refused ?token=: said once the connection is open */
    uint64_t timer;             /* token expiry, or the grace period */
    int64_t exp;                /* the token's exp (INT64_MAX: none) */
    void *data;                 /* on_connect's */
    size_t size;                /* bytes of this block */
    gp_bytes uid, groups, publish, send_to_uid;   /* in this block */
} gp__app_conn;

/* A group_info waiting for the other workers' answers. */
typedef struct gp__app_query {
    struct gp__app_query *next;
    gp_app *app;
    uint32_t qid;
    gp_conn_id conn;
    uint64_t members, timer;
    size_t glen, rlen;
    uint8_t group[1];           /* glen bytes, then the v2 id as it came (rlen bytes; 0: none) */
} gp__app_query;

/* Protocol v2 (DESIGN 7, the manual's PROTOCOL V2). A membership's word (gp_group_word) says
   what its member has: GP__W_V2 for a v2 member, then either the last offset delivered to it,
   or with GP__W_WAIT the index of the join waiting for the channel's answer (the live
   messages meanwhile are held in that join and merged by offset when the answer comes). */
#define GP__W_V2   ((uint64_t)1 << 62)
#define GP__W_WAIT ((uint64_t)1 << 63)
#define GP__W_LOW  (GP__W_V2 - 1)
#define GP__APP_PROTO "grouppush.v2"
#define GP__APP_MAX_ID 64            /* bytes of an id once unescaped; an epoch likewise */

typedef struct gp__app_held { gp_msg *env; uint64_t off; uint32_t gen; } gp__app_held;
typedef struct gp__app_pend {        /* an add_group or a send_to_group waiting for the channel */
    struct gp_app *app;
    uint32_t idx;                    /* in app->pend */
    int kind;                        /* GP__APP_JOIN / GP__APP_ACK */
    int dead;                        /* the member left (a join: reply, deliver nothing) */
    int asked;                       /* the client gave since: the answer says recovered */
    gp_conn_id conn;
    int64_t since;                   /* -1: no since */
    size_t elen, rlen, glen;
    char epoch[GP__APP_MAX_ID];      /* since's epoch */
    char rid[6 * GP__APP_MAX_ID + 2];   /* the id as it came (raw JSON), rlen 0: none */
    gp_buf held;                     /* of gp__app_held */
    uint8_t group[1];                /* glen bytes */
} gp__app_pend;
enum { GP__APP_JOIN = 1, GP__APP_ACK = 2, GP__APP_REPAIR = 3 };
typedef struct gp__app_grp {         /* a group's stream as this worker last saw it (gp_group_user) */
    struct gp__app_grp *next, *prev;
    uint32_t gen;                    /* bumped when its epoch changes */
    size_t elen, nlen;
    uint64_t top;                    /* the highest offset this worker has seen (0: none yet) */
    struct gp__app_pend *repair;     /* a gap in the live stream being filled from the history */
    char epoch[GP__APP_MAX_ID];
    uint8_t name[1];                 /* nlen bytes */
} gp__app_grp;

struct gp_app {
    gp_loop *loop;
    void *alloc_ctx;
    gp_app_config cfg;
    char *prefix, *uprefix, *cprefix;   /* one block: group, user and control prefixes */
    size_t plen, uplen, cplen, prefixes_size;
    gp_ws_server *ws;
    gp_groups *groups;
    gp_groups *users;           /* user id -> its connections on this worker */
    gp_chancli *chan;
    gp_buf scratch, env, keys;
    uint8_t *text;              /* unescaped "message", max_message bytes */
    int tokens;                 /* token checking on */
    gp_jwt_config jwt;          /* secrets point into `secrets` */
    uint8_t *secrets, *tokbuf, *jwt_work;
    size_t secrets_len, jwt_work_size;
    gp__app_conn **pc;          /* by connection slot, when tokens or on_connect are set */
    size_t pc_cap;
    uint64_t instance;          /* random: this app in envelopes and control messages */
    char reply_ch[64];          /* control prefix + "r:" + instance, NUL-terminated */
    gp__app_query *queries;
    size_t nqueries;
    uint32_t next_qid;
    int ready_fired;
    uint64_t msgs_in, msgs_out, errors, joins, leaves, publishes;
    /* v2 */
    char *protocols;            /* grouppush.v2, then cfg.ws.protocols */
    size_t protocols_size;
    uint32_t *v2;               /* by connection slot: the id of the v2 connection there, or 0 */
    size_t v2_cap, nv2;         /* nv2 open v2 connections; 0: v1's fan-out, no word is read */
    gp__app_grp *grps;          /* every gp__app_grp (freed with the app) */
    gp__app_pend **pend;        /* waiting joins, acks and repairs, by index */
    size_t pend_cap, npend;
    char sha_pub[41], sha_hist[41];
    uint64_t rng;               /* epoch candidates */
    const uint8_t *rid;         /* the id of the command being answered (raw JSON), or NULL */
    size_t rlen;
    int rid_str;                /* it is a string (quotes around it) */
    gp_json_tok toks[64];
};

/* The current command's id, when it has one, leads every answer to it (protocol v2). */
static int gp__app_put_id(gp_buf *b, const uint8_t *rid, size_t rlen, int str) {
    if (rid == NULL) return GP_OK;
    if (gp_buf_append(b, "\"id\":", 5) != GP_OK || (str && gp_buf_append(b, "\"", 1) != GP_OK) ||
        gp_buf_append(b, rid, rlen) != GP_OK || (str && gp_buf_append(b, "\"", 1) != GP_OK))
        return GP_ERR_NOMEM;
    return gp_buf_append(b, ",", 1);
}

/* Every error answer goes through here (one JSON frame, the connection stays open). */
static void gp__app_error(gp_app *a, gp_conn_id id, const char *code, const char *detail) {
    gp_buf *b = &a->scratch;
    b->len = 0;
    a->errors++;
    if (a->cfg.on_error) a->cfg.on_error(a, id, code, a->cfg.user);
    if (gp_buf_append(b, "{", 1) != GP_OK || gp__app_put_id(b, a->rid, a->rlen, a->rid_str) != GP_OK ||
        gp_buf_append(b, "\"error\":\"", 9) != GP_OK || gp_buf_append(b, code, strlen(code)) != GP_OK ||
        gp_buf_append(b, "\",\"detail\":", 11) != GP_OK || gp_json_put_string(b, detail, strlen(detail)) != GP_OK ||
        gp_buf_append(b, "}", 1) != GP_OK)
        return;
    gp_ws_send(a->ws, id, GP_WS_TEXT, b->data, b->len);
}

/* {"id":I,"ok":true<rest>}: rest is JSON members, each starting with a comma. */
static void gp__app_ok(gp_app *a, gp_conn_id id, const char *rest, size_t n) {
    gp_buf *b = &a->scratch;
    b->len = 0;
    if (a->rid == NULL) return;
    if (gp_buf_append(b, "{", 1) != GP_OK || gp__app_put_id(b, a->rid, a->rlen, a->rid_str) != GP_OK ||
        gp_buf_append(b, "\"ok\":true", 9) != GP_OK || gp_buf_append(b, rest, n) != GP_OK || gp_buf_append(b, "}", 1) != GP_OK)
        return;
    gp_ws_send(a->ws, id, GP_WS_TEXT, b->data, b->len);
}

/* Every answer that is not an error (group_info) goes through here: body is a JSON object. */
static void gp__app_reply(gp_app *a, gp_conn_id id, const gp_buf *body) {
    gp_ws_send(a->ws, id, GP_WS_TEXT, body->data, body->len);
}

/* Channel name = prefix + name, built in scratch. */
static const gp_bytes *gp__app_chname(gp_app *a, const char *prefix, size_t plen, const void *name, size_t len,
                                      gp_bytes *out) {
    a->scratch.len = 0;
    if (gp_buf_append(&a->scratch, prefix, plen) != GP_OK || gp_buf_append(&a->scratch, name, len) != GP_OK)
        return NULL;
    out->ptr = a->scratch.data;
    out->len = a->scratch.len;
    return out;
}
static const gp_bytes *gp__app_channel(gp_app *a, const void *group, size_t glen, gp_bytes *out) {
    return gp__app_chname(a, a->prefix, a->plen, group, glen, out);
}

static int gp__app_is_v2(const gp_app *a, gp_conn_id id) {
    uint32_t s = gp_conn_slot(id);
    return s < a->v2_cap && a->v2[s] == id.v;
}

/* ---- the group streams' scripts (GROUP STREAMS): keys, arguments, calls ---- */
static uint64_t gp__app_rand(gp_app *a) {   /* xorshift64*: epoch candidates only */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 2685821657736338717ull;
}

/* argv for EVALSHA sha 2 KEYS[1] KEYS[2] of group's channel, built in a->keys; nums: the
   numeric arguments as text follow in the same buffer. Returns the number of words, 5. */
static int gp__app_script_head(gp_app *a, const char *sha, const void *group, size_t glen, gp_bytes *argv) {
    gp_buf *k = &a->keys;
    size_t m0, m1, h0, h1;
    k->len = 0;
    if (gp_buf_reserve(k, 3 * (glen + a->plen) + 512) != GP_OK) return GP_ERR_NOMEM;   /* no move after */
    m0 = k->len;
    gp_buf_append(k, "gp:{", 4); gp_buf_append(k, a->prefix, a->plen); gp_buf_append(k, group, glen);
    gp_buf_append(k, "}:m", 3);
    m1 = k->len;
    h0 = k->len;
    gp_buf_append(k, "gp:{", 4); gp_buf_append(k, a->prefix, a->plen); gp_buf_append(k, group, glen);
    gp_buf_append(k, "}:h", 3);
    h1 = k->len;
    argv[0].ptr = (const uint8_t *)"EVALSHA"; argv[0].len = 7;
    argv[1].ptr = (const uint8_t *)sha; argv[1].len = 40;
    argv[2].ptr = (const uint8_t *)"2"; argv[2].len = 1;
    argv[3].ptr = k->data + m0; argv[3].len = m1 - m0;
    argv[4].ptr = k->data + h0; argv[4].len = h1 - h0;
    return 5;
}

/* A number as an argument, its text at the end of a->keys (reserved by gp__app_script_head). */
static gp_bytes gp__app_num(gp_app *a, int64_t v) {
    gp_bytes r;
    size_t at = a->keys.len;
    a->keys.len += gp_fmt((char *)a->keys.data + at, 24, "%lld", (long long)v);
    r.ptr = a->keys.data + at;
    r.len = a->keys.len - at;
    return r;
}

static gp_bytes gp__app_epoch_candidate(gp_app *a) {
    gp_bytes r;
    size_t at = a->keys.len;
    a->keys.len += gp_fmt((char *)a->keys.data + at, 24, "%016llx", (unsigned long long)gp__app_rand(a));
    r.ptr = a->keys.data + at;
    r.len = a->keys.len - at;
    return r;
}

static uint64_t gp__app_ttl_s(const gp_app *a) {
    return a->cfg.history_ttl_ms == GP_APP_NO_TTL ? 0 : (a->cfg.history_ttl_ms + 999) / 1000;
}

static uint64_t gp__app_meta_ttl_s(const gp_app *a) {
    uint64_t t = gp__app_ttl_s(a);
    return t == 0 ? 0 : GP__MAX(t, (uint64_t)86400);
}

static size_t gp__app_hist_n(const gp_app *a) { return a->cfg.history_size == GP_APP_NO_HISTORY ? 0 : a->cfg.history_size; }

/* The current command's id as it came (a string with its quotes) into dst: its length, 0
   when there is none or it does not fit. */
static size_t gp__app_rid_copy(const gp_app *a, char *dst, size_t cap) {
    size_t o = 0;
    if (a->rid == NULL || a->rlen + 2 > cap) return 0;
    if (a->rid_str) dst[o++] = '"';
    memcpy(dst + o, a->rid, a->rlen);
    o += a->rlen;
    if (a->rid_str) dst[o++] = '"';
    return o;
}

/* {"id":RID,"ok":true<rest>} for an answer that comes after its command (rid: as it came). */
static void gp__app_ok_rid(gp_app *a, gp_conn_id conn, const char *rid, size_t rlen, const char *rest, size_t n) {
    const uint8_t *old = a->rid;
    size_t olen = a->rlen;
    int str = a->rid_str;
    a->rid = (const uint8_t *)rid;
    a->rlen = rlen;
    a->rid_str = 0;   /* rid keeps its quotes */
    gp__app_ok(a, conn, rest, n);
    a->rid = old; a->rlen = olen; a->rid_str = str;
}

static int gp__app_pend_new(gp_app *a, int kind, gp_conn_id conn, const void *group, size_t glen, gp__app_pend **out) {
    gp__app_pend *p;
    size_t i;
    if (a->npend == a->pend_cap) {
        size_t old = a->pend_cap;
        if (gp__grow(a->alloc_ctx, (void **)&a->pend, &a->pend_cap, a->pend_cap + 1, sizeof *a->pend) != GP_OK)
            return GP_ERR_NOMEM;
        for (i = old; i < a->pend_cap; i++) a->pend[i] = NULL;
    }
    for (i = 0; i < a->pend_cap && a->pend[i]; i++) continue;
    if ((p = (gp__app_pend *)gp__calloc(a->alloc_ctx, sizeof *p + glen)) == NULL) return GP_ERR_NOMEM;
    p->app = a;
    p->idx = (uint32_t)i;
    p->kind = kind;
    p->conn = conn;
    p->since = -1;
    p->glen = glen;
    if (glen) memcpy(p->group, group, glen);
    p->held.alloc_ctx = a->alloc_ctx;
    p->rlen = gp__app_rid_copy(a, p->rid, sizeof p->rid);
    a->pend[i] = p;
    a->npend++;
    *out = p;
    return GP_OK;
}

static void gp__app_pend_free(gp_app *a, gp__app_pend *p) {
    size_t i, n = p->held.len / sizeof(gp__app_held);
    for (i = 0; i < n; i++) gp_msg_unref(((gp__app_held *)(void *)p->held.data)[i].env);
    gp_buf_free(&p->held);
    a->pend[p->idx] = NULL;
    a->npend--;
    gp__free(a->alloc_ctx, p, sizeof *p + p->glen);
}

/* Answer a waiting command: its id (as it came) leads. */
static void gp__app_pend_answer(gp_app *a, gp__app_pend *p, const char *rest, size_t n) {
    if (p->rlen) gp__app_ok_rid(a, p->conn, p->rid, p->rlen, rest, n);
}

static void gp__app_pend_error(gp_app *a, gp__app_pend *p, const char *code, const char *detail) {
    const uint8_t *rid = a->rid;
    size_t rlen = a->rlen;
    int str = a->rid_str;
    a->rid = p->rlen ? (const uint8_t *)p->rid : NULL;
    a->rlen = p->rlen;
    a->rid_str = 0;
    gp__app_error(a, p->conn, code, detail);
    a->rid = rid; a->rlen = rlen; a->rid_str = str;
}

/* ---- v2 frames ---- */
/* {"group":G,"offset":N,"epoch":E,"data":M} (no offset/epoch for a plain PUBLISH); bytes that
   are not UTF-8 go base64-encoded as "data_b64". NULL without memory. A message for a user
   (send_to_uid) is the same with "user":U for "group":G (gp__app_envelope_key). */
static gp_msg *gp__app_envelope_key(gp_app *a, const char *key, const uint8_t *g, size_t glen, int has_off,
                                    uint64_t off, const uint8_t *e, size_t elen, const uint8_t *p, size_t n) {
    gp_buf *b = &a->env;
    char num[32];
    b->len = 0;
    if (gp_buf_append(b, "{\"", 2) != GP_OK || gp_buf_append(b, key, strlen(key)) != GP_OK ||
        gp_buf_append(b, "\":", 2) != GP_OK || gp_json_put_string(b, g, glen) != GP_OK)
        return NULL;
    if (has_off) {
        size_t k = gp_fmt(num, sizeof num, ",\"offset\":%llu,\"epoch\":", (unsigned long long)off);
        if (gp_buf_append(b, num, k) != GP_OK || gp_json_put_string(b, e, elen) != GP_OK) return NULL;
    }
    if (gp_utf8_feed(GP_UTF8_ACCEPT, p, n) == GP_UTF8_ACCEPT) {
        if (gp_buf_append(b, ",\"data\":", 8) != GP_OK || gp_json_put_string(b, p, n) != GP_OK) return NULL;
    } else {
        size_t cap = 4 * (n / 3 + 1) + 1;
        if (gp_buf_append(b, ",\"data_b64\":\"", 13) != GP_OK || gp_buf_reserve(b, cap + 2) != GP_OK) return NULL;
        b->len += gp_base64_encode(p, n, (char *)b->data + b->len, cap);
        if (gp_buf_append(b, "\"", 1) != GP_OK) return NULL;
    }
    if (gp_buf_append(b, "}", 1) != GP_OK) return NULL;
    return gp_msg_new(a->ws, GP_WS_TEXT, b->data, b->len);
}
static gp_msg *gp__app_envelope(gp_app *a, const uint8_t *g, size_t glen, int has_off, uint64_t off,
                                const uint8_t *e, size_t elen, const uint8_t *p, size_t n) {
    return gp__app_envelope_key(a, "group", g, glen, has_off, off, e, elen, p, n);
}

/* "\xFFgp1 <offset> <epoch> <payload>" (the PUBLISH script's push): 1 and its parts, or 0
   for a plain payload. */
static int gp__app_stream_head(gp_bytes d, uint64_t *off, gp_bytes *epoch, gp_bytes *payload) {
    size_t i = 5, e0;
    uint64_t o = 0;
    if (d.len < 9 || memcmp(d.ptr, "\xFFgp1 ", 5) != 0) return 0;
    for (; i < d.len && d.ptr[i] >= '0' && d.ptr[i] <= '9' && i < 25; i++) o = o * 10 + (uint64_t)(d.ptr[i] - '0');
    if (i == 5 || i >= d.len || d.ptr[i] != ' ') return 0;
    e0 = ++i;
    while (i < d.len && d.ptr[i] != ' ') i++;
    if (i >= d.len || i == e0 || i - e0 > GP__APP_MAX_ID) return 0;
    *off = o;
    epoch->ptr = d.ptr + e0;
    epoch->len = i - e0;
    payload->ptr = d.ptr + i + 1;
    payload->len = d.len - i - 1;
    return 1;
}

static gp__app_grp *gp__app_grp_get(gp_app *a, const void *name, size_t len) {
    void **u = gp_group_user(a->groups, name, len);
    gp__app_grp *g;
    if (u == NULL) return NULL;
    if (*u == NULL && (g = (gp__app_grp *)gp__calloc(a->alloc_ctx, sizeof *g + len)) != NULL) {
        g->nlen = len;
        memcpy(g->name, name, len);
        g->next = a->grps;
        if (a->grps) a->grps->prev = g;
        a->grps = g;
        *u = g;
    }
    return (gp__app_grp *)*u;
}

static void gp__app_grp_free(gp_app *a, gp__app_grp *g) {
    if (g->prev) g->prev->next = g->next;
    else a->grps = g->next;
    if (g->next) g->next->prev = g->prev;
    if (g->repair) g->repair->dead = 1;   /* its answer finds no group and is dropped */
    gp__free(a->alloc_ctx, g, sizeof *g + g->nlen);
}

static void gp__app_repair(gp_app *a, gp__app_grp *g);

/* ---- the fan-out of one channel message to a worker's members ---- */
typedef struct gp__app_fan {
    gp_app *a;
    gp_bytes group, data, epoch;
    int has_off, reset, failed;
    uint64_t off;
    uint32_t gen;
    gp_msg *raw, *env;
    struct gp__app_pend *repair;   /* the group's gap is being filled: v2 members wait for it */
    gp_conn_id except;             /* send_to_group's exclude_self: not to this one */
} gp__app_fan;

static void gp__app_fan_one(gp_groups *gs, gp_conn_id id, uint64_t *word, void *user) {
    gp__app_fan *f = (gp__app_fan *)user;
    gp_app *a = f->a;
    (void)gs;
    if (id.v == f->except.v) return;
    if (!(*word & GP__W_V2)) {   /* v1: exactly the message */
        if (f->raw == NULL) {
            int op = gp_utf8_feed(GP_UTF8_ACCEPT, f->data.ptr, f->data.len) == GP_UTF8_ACCEPT ? GP_WS_TEXT : GP_WS_BINARY;
            if ((f->raw = gp_msg_new(a->ws, op, f->data.ptr, f->data.len)) == NULL) { f->failed = 1; return; }
        }
        if (gp_ws_send_msg(a->ws, id, f->raw) == GP_OK) a->msgs_out++;
        return;
    }
    if (f->env == NULL &&
        (f->env = gp__app_envelope(a, f->group.ptr, f->group.len, f->has_off, f->off, f->epoch.ptr, f->epoch.len,
                                   f->data.ptr, f->data.len)) == NULL) {
        f->failed = 1;
        return;
    }
    if (!f->has_off) {   /* a plain PUBLISH: not in the stream, delivered as it comes */
        if (gp_ws_send_msg(a->ws, id, f->env) == GP_OK) a->msgs_out++;
        return;
    }
    if (f->reset && !(*word & GP__W_WAIT)) *word = GP__W_V2;   /* a new epoch: offsets start again */
    if (f->repair) return;   /* held once for the whole group (gp__app_on_channel) */
    if (*word & GP__W_WAIT) {   /* its join waits for the channel: hold it */
        gp__app_pend *p = a->pend[*word & GP__W_LOW];
        gp__app_held h;
        h.env = f->env;
        h.off = f->off;
        h.gen = f->gen;
        if (gp_buf_append(&p->held, &h, sizeof h) == GP_OK) gp_msg_ref(f->env);
        return;
    }
    if (f->off <= (*word & GP__W_LOW)) return;   /* it has it already (replayed) */
    *word = GP__W_V2 | f->off;
    if (gp_ws_send_msg(a->ws, id, f->env) == GP_OK) a->msgs_out++;
}

/* One frame for the members of name in gs (all but `except`): a backend may publish any
   bytes; what is not UTF-8 goes out as a binary frame. */
static size_t gp__app_deliver(gp_app *a, gp_groups *gs, const uint8_t *name, size_t nlen, const uint8_t *data,
                              size_t len, gp_conn_id except) {
    int op = gp_utf8_feed(GP_UTF8_ACCEPT, data, len) == GP_UTF8_ACCEPT ? GP_WS_TEXT : GP_WS_BINARY;
    gp_msg *m = gp_msg_new(a->ws, op, data, len);
    size_t n;
    if (m == NULL) return 0;
    n = gp_group_send_except(gs, name, nlen, m, except);
    a->msgs_out += n;
    gp_msg_unref(m);
    return n;
}

/* send_to_group with "exclude_self": the channel message is an envelope, MAGIC + the
   origin app's instance (8 bytes) + its connection id (4 bytes) + the message. 0xFF never
   starts UTF-8 text, so no text a backend publishes is taken for one. */
#define GP__APP_ENV "\xff" "GPX1" "\x00"
#define GP__APP_ENV_LEN 18
/* The exclude_self envelope taken off data (the payload inside a group stream's message,
   or a plain one): the connection to leave out, or 0. */
static gp_conn_id gp__app_strip_self(const gp_app *a, gp_bytes *data) {
    gp_conn_id except;
    except.v = 0;
    if (data->len >= GP__APP_ENV_LEN && memcmp(data->ptr, GP__APP_ENV, 6) == 0) {
        uint64_t inst = 0;
        int i;
        for (i = 0; i < 8; i++) inst = (inst << 8) | data->ptr[6 + i];
        if (inst == a->instance)
            except.v = ((uint32_t)data->ptr[14] << 24) | ((uint32_t)data->ptr[15] << 16) |
                       ((uint32_t)data->ptr[16] << 8) | data->ptr[17];
        data->ptr += GP__APP_ENV_LEN;
        data->len -= GP__APP_ENV_LEN;
    }
    return except;
}

static void gp__app_on_channel(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user) {
    gp_app *a = (gp_app *)user;
    gp__app_fan f;
    (void)c;
    if (channel.len < a->plen || memcmp(channel.ptr, a->prefix, a->plen) != 0) return;
    memset(&f, 0, sizeof f);
    f.a = a;
    f.group.ptr = channel.ptr + a->plen;
    f.group.len = channel.len - a->plen;
    f.data = data;
    f.has_off = gp__app_stream_head(data, &f.off, &f.epoch, &f.data);
    f.except = gp__app_strip_self(a, &f.data);
    if (f.has_off && a->nv2 > 0) {
        gp__app_grp *g = gp__app_grp_get(a, f.group.ptr, f.group.len);
        if (g == NULL) return;
        if (g->elen != f.epoch.len || memcmp(g->epoch, f.epoch.ptr, f.epoch.len) != 0) {
            f.reset = g->elen != 0;   /* the stream started again: every member's position goes */
            g->gen++;
            g->elen = f.epoch.len;
            memcpy(g->epoch, f.epoch.ptr, f.epoch.len);
            g->top = 0;
        } else if (g->repair == NULL && g->top > 0 && f.off > g->top + 1) {
            gp__app_repair(a, g);   /* this worker missed some (its channel connection dropped) */
        }
        if (f.off > g->top) g->top = f.off;
        f.gen = g->gen;
        f.repair = g->repair;
        if (f.repair) {   /* held for the group until the gap is filled */
            gp__app_held h;
            if ((f.env = gp__app_envelope(a, f.group.ptr, f.group.len, 1, f.off, f.epoch.ptr, f.epoch.len, f.data.ptr,
                                          f.data.len)) == NULL)
                return;
            h.env = f.env;
            h.off = f.off;
            h.gen = f.gen;
            if (gp_buf_append(&f.repair->held, &h, sizeof h) == GP_OK) gp_msg_ref(f.env);
        }
    }
    if (a->cfg.on_fanout)   /* before the frames are queued: fan-out latency includes the queueing */
        a->cfg.on_fanout(a, f.group, gp_group_size(a->groups, f.group.ptr, f.group.len), a->cfg.user);
    if (a->nv2 == 0)   /* no v2 connection on this worker: v1's encode-once fan-out */
        gp__app_deliver(a, a->groups, f.group.ptr, f.group.len, f.data.ptr, f.data.len, f.except);
    else
        gp_group_each_member(a->groups, f.group.ptr, f.group.len, gp__app_fan_one, &f);
    gp_msg_unref(f.raw);
    gp_msg_unref(f.env);
}

/* A message for a user: v1 connections get exactly the message, v2 ones {"user":U,"data":M}. */
typedef struct gp__app_ufan { gp_app *a; gp_bytes uid, data; gp_msg *raw, *env; } gp__app_ufan;
static void gp__app_user_one(gp_groups *gs, gp_conn_id id, uint64_t *word, void *user) {
    gp__app_ufan *f = (gp__app_ufan *)user;
    gp_app *a = f->a;
    gp_msg **m = gp__app_is_v2(a, id) ? &f->env : &f->raw;
    (void)gs; (void)word;
    if (*m == NULL) {
        int op = gp_utf8_feed(GP_UTF8_ACCEPT, f->data.ptr, f->data.len) == GP_UTF8_ACCEPT ? GP_WS_TEXT : GP_WS_BINARY;
        *m = m == &f->env ? gp__app_envelope_key(a, "user", f->uid.ptr, f->uid.len, 0, 0, NULL, 0, f->data.ptr, f->data.len)
                          : gp_msg_new(a->ws, op, f->data.ptr, f->data.len);
        if (*m == NULL) return;
    }
    if (gp_ws_send_msg(a->ws, id, *m) == GP_OK) a->msgs_out++;
}
static void gp__app_on_user(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user) {
    gp_app *a = (gp_app *)user;
    gp_conn_id none;
    gp__app_ufan f;
    (void)c;
    none.v = 0;
    if (channel.len < a->uplen || memcmp(channel.ptr, a->uprefix, a->uplen) != 0) return;
    if (a->nv2 == 0) {   /* no v2 connection here: encode once for all */
        gp__app_deliver(a, a->users, channel.ptr + a->uplen, channel.len - a->uplen, data.ptr, data.len, none);
        return;
    }
    memset(&f, 0, sizeof f);
    f.a = a;
    f.uid.ptr = channel.ptr + a->uplen;
    f.uid.len = channel.len - a->uplen;
    f.data = data;
    gp_group_each_member(a->users, f.uid.ptr, f.uid.len, gp__app_user_one, &f);
    gp_msg_unref(f.raw);
    gp_msg_unref(f.env);
}

static void gp__app_first(gp_groups *g, const char *name, size_t len, void *user) {
    gp_app *a = (gp_app *)user;
    gp_bytes ch;
    if (g == a->users) {
        if (gp__app_chname(a, a->uprefix, a->uplen, name, len, &ch))
            gp_chancli_subscribe(a->chan, ch.ptr, ch.len, gp__app_on_user, a);
    } else if (gp__app_channel(a, name, len, &ch)) {
        gp_chancli_subscribe(a->chan, ch.ptr, ch.len, gp__app_on_channel, a);
    }
}

static void gp__app_empty(gp_groups *g, const char *name, size_t len, void *user) {
    gp_app *a = (gp_app *)user;
    void **u = g == a->groups ? gp_group_user(g, name, len) : NULL;
    gp_bytes ch;
    if (u && *u) { gp__app_grp_free(a, (gp__app_grp *)*u); *u = NULL; }
    if (gp__app_chname(a, g == a->users ? a->uprefix : a->prefix, g == a->users ? a->uplen : a->plen, name, len, &ch))
        gp_chancli_unsubscribe(a->chan, ch.ptr, ch.len);
}

/* ---- member counts across the deployment (group_info) ----
   The asking worker publishes "INSTANCE QID GROUP" on CONTROL"q", which every worker of
   every machine on the channel subscribes to; each with members in GROUP answers
   "QID COUNT" on the asker's CONTROL"r:INSTANCE"; after info_window_ms the asker sums
   what came and answers the client. A worker that is gone answers nothing, so its members
   are not counted. */
static void gp__app_query_free(gp_app *a, gp__app_query *q) {
    gp__app_query **pp;
    for (pp = &a->queries; *pp; pp = &(*pp)->next)
        if (*pp == q) { *pp = q->next; break; }
    a->nqueries--;
    gp__free(a->alloc_ctx, q, sizeof *q + q->glen + q->rlen);
}

static void gp__app_query_done(gp_loop *loop, void *user) {
    gp__app_query *q = (gp__app_query *)user;
    gp_app *a;
    char num[32];
    (void)loop;
    a = q->app;
    gp_fmt(num, sizeof num, ",\"members\":%llu", (unsigned long long)q->members);
    if (q->rlen) {   /* v2, a command with an id: {"id":I,"ok":true,"group_id":"G","members":N} */
        a->env.len = 0;
        if (gp_buf_append(&a->env, ",\"group_id\":", 12) == GP_OK && gp_json_put_string(&a->env, q->group, q->glen) == GP_OK &&
            gp_buf_append(&a->env, num, strlen(num)) == GP_OK)
            gp__app_ok_rid(a, q->conn, (const char *)q->group + q->glen, q->rlen, (const char *)a->env.data, a->env.len);
    } else {
        a->scratch.len = 0;
        if (gp_buf_append(&a->scratch, "{\"cmd\":\"group_info\",\"group_id\":", 31) == GP_OK &&
            gp_json_put_string(&a->scratch, q->group, q->glen) == GP_OK &&
            gp_buf_append(&a->scratch, num, strlen(num)) == GP_OK && gp_buf_append(&a->scratch, "}", 1) == GP_OK)
            gp__app_reply(a, q->conn, &a->scratch);
    }
    gp__app_query_free(a, q);
}

static void gp__app_on_query(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user) {
    gp_app *a = (gp_app *)user;
    const uint8_t *sp1, *sp2;
    size_t n;
    char ans[48];
    gp_bytes ch;
    (void)c; (void)channel;
    if ((sp1 = (const uint8_t *)memchr(data.ptr, ' ', data.len)) == NULL || sp1 - data.ptr != 16 ||
        (sp2 = (const uint8_t *)memchr(sp1 + 1, ' ', data.len - 17)) == NULL || sp2 - sp1 > 11)
        return;
    n = gp_group_size(a->groups, sp2 + 1, data.len - (size_t)(sp2 + 1 - data.ptr));
    if (n == 0) return;   /* nothing to add: no answer */
    gp_fmt(ans, sizeof ans, "%.*s %lu", (int)(sp2 - sp1 - 1), (const char *)sp1 + 1, (unsigned long)n);
    if (gp__app_chname(a, a->cprefix, a->cplen, "r:", 2, &ch) && gp_buf_append(&a->scratch, data.ptr, 16) == GP_OK)
        gp_chancli_publish(a->chan, a->scratch.data, a->scratch.len, ans, strlen(ans));
}

static void gp__app_on_answer(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user) {
    gp_app *a = (gp_app *)user;
    gp__app_query *q;
    unsigned long qid = 0, cnt = 0;
    size_t i = 0;
    (void)c; (void)channel;
    while (i < data.len && i < 10 && data.ptr[i] >= '0' && data.ptr[i] <= '9') qid = qid * 10 + (data.ptr[i++] - '0');
    if (i == 0 || i >= data.len || data.ptr[i++] != ' ') return;
    for (; i < data.len && data.ptr[i] >= '0' && data.ptr[i] <= '9' && cnt < 1000000000ul; i++)   /* stays within 32 bits */
        cnt = cnt * 10 + (data.ptr[i] - '0');
    for (q = a->queries; q; q = q->next)
        if (q->qid == qid) { q->members += cnt; break; }
}

/* ---- per-connection state ---- */
static gp__app_conn *gp__app_conn_get(const gp_app *a, gp_conn_id id) {
    uint32_t s = gp_conn_slot(id);
    gp__app_conn *pc = s < a->pc_cap ? a->pc[s] : NULL;
    return pc && pc->id == id.v ? pc : NULL;
}

static void gp__app_conn_free(gp_app *a, uint32_t slot) {
    gp__app_conn *pc = a->pc[slot];
    gp_conn_id id;
    if (pc == NULL) return;
    if (pc->timer) gp_loop_timer_stop(a->loop, pc->timer);
    a->pc[slot] = NULL;
    id.v = pc->id;
    if (pc->data && a->cfg.on_release) a->cfg.on_release(a, id, pc->data, a->cfg.user);
    gp__free(a->alloc_ctx, pc, pc->size);
}

static void gp__app_timer(gp_loop *loop, void *user);
static int64_t gp__app_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* The timer of a connection: grace (no valid token, or an expired one), else its exp. */
static void gp__app_conn_arm(gp_app *a, gp__app_conn *pc) {
    uint64_t ms = a->cfg.token_grace_ms;
    if (pc->timer) gp_loop_timer_stop(a->loop, pc->timer);
    pc->timer = 0;
    if (!a->tokens) return;
    if (pc->auth == GP__AUTH_OK) {
        int64_t left;
        if (pc->exp == INT64_MAX) return;
        left = (pc->exp + (int64_t)a->cfg.token_skew_s) * 1000 - gp__app_wall_ms();
        ms = left < 1 ? 1 : left > (1 << 30) ? (uint64_t)1 << 30 : (uint64_t)left;   /* re-checked when it fires */
    }
    pc->timer = gp_loop_timer_start(a->loop, ms, 0, gp__app_timer, pc);
}

/* A new block for id with this uid and these lists (NULL: keep the old block's). */
static gp__app_conn *gp__app_conn_set(gp_app *a, gp_conn_id id, const void *uid, size_t ulen, const gp_jwt *claims) {
    uint32_t s = gp_conn_slot(id);
    gp__app_conn *old = gp__app_conn_get(a, id), *pc;
    gp_bytes g, p, u, empty;
    size_t size;
    uint8_t *d;
    empty.ptr = NULL;
    empty.len = 0;
    if (s >= a->pc_cap) {
        size_t oc = a->pc_cap;
        if (gp__grow(a->alloc_ctx, (void **)&a->pc, &a->pc_cap, (size_t)s + 1, sizeof *a->pc) != GP_OK) return NULL;
        memset(a->pc + oc, 0, (a->pc_cap - oc) * sizeof *a->pc);
    }
    if (old == NULL && a->pc[s]) gp__app_conn_free(a, s);   /* a stale one (a handshake that failed) */
    if (uid == NULL && old) { uid = old->uid.ptr; ulen = old->uid.len; }
    g = claims ? claims->groups : old ? old->groups : empty;
    p = claims ? claims->publish : old ? old->publish : empty;
    u = claims ? claims->send_to_uid : old ? old->send_to_uid : empty;
    size = sizeof *pc + ulen + g.len + p.len + u.len;
    if ((pc = (gp__app_conn *)gp__malloc(a->alloc_ctx, size)) == NULL) return NULL;
    if (old) *pc = *old;
    else {
        memset(pc, 0, sizeof *pc);
        pc->app = a;
        pc->id = id.v;
        pc->exp = INT64_MAX;
    }
    pc->size = size;
    d = (uint8_t *)(pc + 1);
#define GP__APP_PUT(field, src, n) do { pc->field.ptr = d; pc->field.len = (n); if (n) memcpy(d, (src), (n)); d += (n); } while (0)
    GP__APP_PUT(uid, uid, ulen);
    GP__APP_PUT(groups, g.ptr, g.len);
    GP__APP_PUT(publish, p.ptr, p.len);
    GP__APP_PUT(send_to_uid, u.ptr, u.len);
#undef GP__APP_PUT
    if (old) {
        old->timer = 0;   /* pc took it over: re-armed by the caller */
        gp__free(a->alloc_ctx, old, old->size);
    }
    a->pc[s] = pc;
    if (pc->timer) { gp_loop_timer_stop(a->loop, pc->timer); pc->timer = 0; }
    return pc;
}

static void gp__app_timer(gp_loop *loop, void *user) {
    gp__app_conn *pc = (gp__app_conn *)user;
    gp_app *a = pc->app;
    gp_conn_id id;
    (void)loop;
    id.v = pc->id;
    pc->timer = 0;
    if (pc->auth == GP__AUTH_OK) {
        if (gp__app_wall_ms() < (pc->exp + (int64_t)a->cfg.token_skew_s) * 1000) { gp__app_conn_arm(a, pc); return; }
        pc->auth = GP__AUTH_EXPIRED;
        gp__app_error(a, id, "token_expired", "the token expired: send a fresh one with auth");
        gp__app_conn_arm(a, pc);
        return;
    }
    gp_conn_close(a->ws, id, 1008, pc->auth == GP__AUTH_EXPIRED ? "token expired" : "no valid token");
}

/* Verify a token (unescaped, in a->tokbuf) for connection pc and apply it. Returns NULL
   when applied, else why not. */
static const char *gp__app_token(gp_app *a, gp_conn_id id, size_t len, int opened) {
    gp__app_conn *pc = gp__app_conn_get(a, id);
    gp_jwt jw;
    int had_uid;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (pc == NULL) return "no connection state";
    if (gp_jwt_verify(&a->jwt, a->tokbuf, len, (int64_t)ts.tv_sec, a->jwt_work, a->jwt_work_size, &jw) != GP_OK)
        return jw.error;
    had_uid = pc->uid.len > 0;
    if (had_uid && jw.sub.len && (jw.sub.len != pc->uid.len || memcmp(jw.sub.ptr, pc->uid.ptr, jw.sub.len) != 0))
        return "the token is for another user";
    if (jw.sub.len > a->cfg.max_uid) return "sub is over max_uid";
    if ((pc = gp__app_conn_set(a, id, had_uid || !jw.sub.len ? NULL : jw.sub.ptr, jw.sub.len, &jw)) == NULL)
        return "out of memory";
    pc->auth = GP__AUTH_OK;
    pc->exp = jw.exp;
    if (opened && !had_uid && pc->uid.len && gp_group_join(a->users, id, pc->uid.ptr, pc->uid.len) != GP_OK) {
        gp_conn_close(a->ws, id, 1011, "out of memory");
        return NULL;
    }
    if (opened) gp__app_conn_arm(a, pc);
    return NULL;
}

/* After a refresh: leave what the new token's "groups" no longer allow. */
static void gp__app_recheck(gp_groups *g, gp_conn_id id, const char *name, size_t len, void *user) {
    gp__app_conn *pc = (gp__app_conn *)user;
    if (!gp_jwt_match(pc->groups, name, len)) gp_group_leave(g, id, name, len);
}

/* ---- commands ---- */
/* ---- the channel's answers ---- */
/* The HISTORY script's answer: [epoch, top, first, payload...] (v[4..] the payloads). 0: not one. */
static int gp__app_hist_parse(const gp_chan_value *v, size_t nv, gp_bytes *e, uint64_t *top, uint64_t *first,
                              size_t *npay) {
    size_t i;
    if (nv < 3 || v[0].type != GP_CHAN_ARRAY || v[0].children < 2 || v[1].type != GP_CHAN_BULK ||
        v[2].type != GP_CHAN_INT || v[2].integer < 0 || v[1].str.len == 0 || v[1].str.len > GP__APP_MAX_ID ||
        (v[0].children > 2 && (nv < 4 || v[3].type != GP_CHAN_INT || v[3].integer < 1)))
        return 0;
    *e = v[1].str;
    *top = (uint64_t)v[2].integer;
    *first = 0;
    *npay = 0;
    if (v[0].children > 2) {
        *first = (uint64_t)v[3].integer;
        *npay = v[0].children - 3;
        for (i = 0; i < *npay; i++) if (4 + i >= nv || v[4 + i].type != GP_CHAN_BULK) { *npay = i; break; }
    }
    return 1;
}

/* ---- filling a gap in a worker's live stream (its channel connection dropped, or the
   dying channel server wrote a message to some workers only): the group's v2 deliveries
   wait while the history after the last offset seen is fetched, then every member gets
   what it lacks, in order, and what came meanwhile ---- */
typedef struct gp__app_mend {
    gp_app *a;
    gp_msg **envs;               /* the history's messages first .. first+n-1 */
    uint64_t first;
    size_t n;
    const gp__app_held *held;    /* what came live meanwhile */
    size_t nheld;
    uint32_t gen;
} gp__app_mend;

static void gp__app_mend_one(gp_groups *gs, gp_conn_id id, uint64_t *word, void *user) {
    gp__app_mend *m = (gp__app_mend *)user;
    gp_app *a = m->a;
    size_t i;
    (void)gs;
    if (!(*word & GP__W_V2)) return;   /* v1 members were served live */
    for (i = 0; i < m->n + m->nheld; i++) {
        gp_msg *env = i < m->n ? m->envs[i] : m->held[i - m->n].env;
        uint64_t off = i < m->n ? m->first + i : m->held[i - m->n].off;
        if (env == NULL || (i >= m->n && m->held[i - m->n].gen != m->gen)) continue;
        if (*word & GP__W_WAIT) {   /* its own join still waits: hand it over, merged there */
            gp__app_held h;
            h.env = env;
            h.off = off;
            h.gen = m->gen;
            if (gp_buf_append(&a->pend[*word & GP__W_LOW]->held, &h, sizeof h) == GP_OK) gp_msg_ref(env);
            continue;
        }
        if (off <= (*word & GP__W_LOW)) continue;
        *word = GP__W_V2 | off;
        if (gp_ws_send_msg(a->ws, id, env) == GP_OK) a->msgs_out++;
    }
}

static void gp__app_repair_done(gp_app *a, gp__app_pend *p, const gp_chan_value *v, size_t nv) {
    gp__app_grp *g = p->dead ? NULL : gp__app_grp_get(a, p->group, p->glen);
    gp__app_mend m;
    gp_bytes e;
    uint64_t top = 0;
    size_t i;
    memset(&m, 0, sizeof m);
    if (g == NULL) { gp__app_pend_free(a, p); return; }
    g->repair = NULL;
    m.a = a;
    m.gen = g->gen;
    m.held = (const gp__app_held *)(const void *)p->held.data;
    m.nheld = p->held.len / sizeof(gp__app_held);
    if (gp__app_hist_parse(v, nv, &e, &top, &m.first, &m.n) && e.len == g->elen && memcmp(e.ptr, g->epoch, e.len) == 0 &&
        m.n > 0 && (m.envs = (gp_msg **)gp__calloc(a->alloc_ctx, m.n * sizeof *m.envs)) != NULL) {
        for (i = 0; i < m.n; i++) {
            gp_bytes pl = v[4 + i].str;
            gp__app_strip_self(a, &pl);
            m.envs[i] = gp__app_envelope(a, p->group, p->glen, 1, m.first + i, e.ptr, e.len, pl.ptr, pl.len);
        }
    } else {
        m.n = 0;   /* nothing to add (or the stream started again): what was held goes out */
    }
    gp_group_each_member(a->groups, p->group, p->glen, gp__app_mend_one, &m);
    for (i = 0; i < m.n; i++) gp_msg_unref(m.envs[i]);
    gp__free(a->alloc_ctx, m.envs, m.n * sizeof *m.envs);
    gp__app_pend_free(a, p);
}

static void gp__app_on_history(gp_chancli *c, const gp_chan_value *v, size_t nv, void *user) {
    gp__app_pend *p = (gp__app_pend *)user;
    gp_app *a = p->app;
    uint64_t *word, top, first = 0, last, start;
    size_t npay = 0, i, k, nh;
    int recovered = -1, ours;
    gp_bytes e;
    gp__app_grp *g;
    char rest[96 + 2 * GP__APP_MAX_ID];
    (void)c;
    if (p->kind == GP__APP_REPAIR) { gp__app_repair_done(a, p, v, nv); return; }
    word = gp_group_word(a->groups, p->conn, p->group, p->glen);
    ours = !p->dead && word && (*word & GP__W_WAIT) && (*word & GP__W_LOW) == p->idx;
    if (!gp__app_hist_parse(v, nv, &e, &top, &first, &npay)) {
        gp__app_pend_error(a, p, "channel_error", v[0].type == GP_CHAN_ERROR ? "the channel refused the history script"
                                                                             : "unexpected answer from the channel");
        if (ours) *word = GP__W_V2;   /* joined, position unknown: it gets what comes from now */
        gp__app_pend_free(a, p);
        return;
    }
    if (p->since >= 0) {   /* asked for since (or a member that joins again: from what it has) */
        uint64_t k0 = (uint64_t)p->since;
        recovered = p->elen == e.len && memcmp(p->epoch, e.ptr, e.len) == 0 && k0 <= top &&
                    (k0 == top || (first == k0 + 1 && first + npay - 1 == top &&
                                   top - k0 <= (uint64_t)a->cfg.max_recover));
    }
    start = recovered == 1 ? (uint64_t)p->since : top;
    {   /* the answer: ,"group_id":G[,"recovered":B],"epoch":E,"offset":N (built in a->keys) */
        gp_buf *b = &a->keys;
        b->len = 0;
        k = gp_fmt(rest, sizeof rest, "%s,\"epoch\":", !p->asked ? "" : recovered == 1 ? ",\"recovered\":true"
                                                                                     : ",\"recovered\":false");
        if (gp_buf_append(b, ",\"group_id\":", 12) == GP_OK && gp_json_put_string(b, p->group, p->glen) == GP_OK &&
            gp_buf_append(b, rest, k) == GP_OK && gp_json_put_string(b, e.ptr, e.len) == GP_OK &&
            gp_buf_append(b, rest, gp_fmt(rest, sizeof rest, ",\"offset\":%llu", (unsigned long long)start)) == GP_OK)
            gp__app_pend_answer(a, p, (const char *)b->data, b->len);
    }
    if (!ours) { gp__app_pend_free(a, p); return; }
    last = start;
    if (recovered == 1)   /* the replay: first .. top, each its own envelope */
        for (i = 0; i < npay && last < top; i++) {
            gp_bytes pl = v[4 + i].str;
            gp_msg *m;
            gp__app_strip_self(a, &pl);
            m = gp__app_envelope(a, p->group, p->glen, 1, first + i, e.ptr, e.len, pl.ptr, pl.len);
            if (m == NULL) break;
            if (gp_ws_send_msg(a->ws, p->conn, m) == GP_OK) a->msgs_out++;
            gp_msg_unref(m);
            last = first + i;
        }
    g = gp__app_grp_get(a, p->group, p->glen);
    if (g && g->elen == 0) { g->elen = e.len; memcpy(g->epoch, e.ptr, e.len); }
    if (g && g->elen == e.len && memcmp(g->epoch, e.ptr, e.len) == 0 && top > g->top) g->top = top;
    nh = p->held.len / sizeof(gp__app_held);
    for (i = 0; i < nh; i++) {   /* what came live meanwhile, merged by offset */
        gp__app_held *h = &((gp__app_held *)(void *)p->held.data)[i];
        if (!g || h->gen != g->gen || g->elen != e.len || memcmp(g->epoch, e.ptr, e.len) != 0 || h->off <= last) continue;
        if (gp_ws_send_msg(a->ws, p->conn, h->env) == GP_OK) a->msgs_out++;
        last = h->off;
    }
    *word = GP__W_V2 | last;
    gp__app_pend_free(a, p);
}

static void gp__app_on_published(gp_chancli *c, const gp_chan_value *v, size_t nv, void *user) {
    gp__app_pend *p = (gp__app_pend *)user;
    gp_app *a = p->app;
    char rest[48];
    (void)c;
    if (p->dead) { gp__app_pend_free(a, p); return; }
    if (nv >= 2 && v[0].type == GP_CHAN_ARRAY && v[1].type == GP_CHAN_INT) {
        size_t k = gp_fmt(rest, sizeof rest, ",\"offset\":%lld", (long long)v[1].integer);
        gp__app_pend_answer(a, p, rest, k);
    } else {
        gp__app_pend_error(a, p, "channel_error", "the channel refused the publish script");
    }
    gp__app_pend_free(a, p);
}

static void gp__app_on_fire(gp_chancli *c, const gp_chan_value *v, size_t nv, void *user) {
    (void)c; (void)v; (void)nv; (void)user;   /* a publish nobody waits for (errors are logged by gp_chancli) */
}

/* Publish through the PUBLISH script: the offset comes from the channel. p: who waits for
   the ack (NULL: nobody). */
static int gp__app_publish_msg(gp_app *a, const void *group, size_t glen, const void *msg, size_t len, gp__app_pend *p) {
    gp_bytes argv[11];
    gp_bytes ch;
    if (gp__app_script_head(a, a->sha_pub, group, glen, argv) < 0) return GP_ERR_NOMEM;
    gp_buf_append(&a->keys, a->prefix, a->plen);
    gp_buf_append(&a->keys, group, glen);
    ch.ptr = a->keys.data + a->keys.len - a->plen - glen;
    ch.len = a->plen + glen;
    argv[5] = ch;
    argv[6].ptr = (const uint8_t *)(msg ? msg : "");
    argv[6].len = len;
    argv[7] = gp__app_num(a, (int64_t)gp__app_hist_n(a));
    argv[8] = gp__app_num(a, (int64_t)gp__app_ttl_s(a));
    argv[9] = gp__app_epoch_candidate(a);
    argv[10] = gp__app_num(a, (int64_t)gp__app_meta_ttl_s(a));
    return gp_chancli_call(a->chan, 11, argv, p ? gp__app_on_published : gp__app_on_fire, p);
}

/* Ask the channel for group's position (since < 0) or for what followed since. */
static int gp__app_history(gp_app *a, gp__app_pend *p) {
    gp_bytes argv[9];
    if (gp__app_script_head(a, a->sha_hist, p->group, p->glen, argv) < 0) return GP_ERR_NOMEM;
    argv[5] = gp__app_num(a, p->since);
    argv[6] = gp__app_num(a, p->since >= 0 ? (int64_t)a->cfg.max_recover : 0);
    argv[7] = gp__app_epoch_candidate(a);
    argv[8] = gp__app_num(a, (int64_t)gp__app_meta_ttl_s(a));
    return gp_chancli_call(a->chan, 9, argv, gp__app_on_history, p);
}

/* Start filling g's gap: the history after the last offset this worker saw. */
static void gp__app_repair(gp_app *a, gp__app_grp *g) {
    gp__app_pend *p;
    gp_conn_id none;
    const uint8_t *rid = a->rid;
    none.v = 0;
    a->rid = NULL;   /* nobody asked: nobody is answered */
    if (gp__app_pend_new(a, GP__APP_REPAIR, none, g->name, g->nlen, &p) == GP_OK) {
        p->since = (int64_t)g->top;
        if (gp__app_history(a, p) == GP_OK) g->repair = p;
        else gp__app_pend_free(a, p);
    }
    a->rid = rid;
}

/* group_id: a non-empty string, or an integer taken as its decimal text. */
static int gp__app_group_id(gp_app *a, gp_conn_id id, const uint8_t *text, int tok, uint8_t *out, size_t *len) {
    const gp_json_tok *t;
    long n;
    if (tok < 0) { gp__app_error(a, id, "bad_group_id", "group_id is missing"); return 0; }
    t = &a->toks[tok];
    if (t->type == GP_JSON_NUMBER) {
        size_t i;
        for (i = t->start; i < t->end; i++)
            if (text[i] == '.' || text[i] == 'e' || text[i] == 'E') {
                gp__app_error(a, id, "bad_group_id", "group_id must be a string or an integer");
                return 0;
            }
        if (t->end - t->start > a->cfg.max_group_id) {
            gp__app_error(a, id, "group_id_too_long", "group_id is over the limit");
            return 0;
        }
        memcpy(out, text + t->start, t->end - t->start);
        *len = t->end - t->start;
        return 1;
    }
    if (t->type != GP_JSON_STRING) {
        gp__app_error(a, id, "bad_group_id", "group_id must be a string or an integer");
        return 0;
    }
    n = gp_json_unescape(text, t, out, a->cfg.max_group_id);
    if (n == GP_ERR_TOO_BIG) { gp__app_error(a, id, "group_id_too_long", "group_id is over the limit"); return 0; }
    if (n <= 0) { gp__app_error(a, id, "bad_group_id", n == 0 ? "group_id is empty" : "group_id has a bad escape"); return 0; }
    *len = (size_t)n;
    return 1;
}

/* "message": unescaped into a->text. Returns its length or -1 (answered). */
static long gp__app_message(gp_app *a, gp_conn_id id, const uint8_t *text) {
    int mi = gp_json_find(text, a->toks, 0, "message");
    long ml;
    if (mi < 0 || a->toks[mi].type != GP_JSON_STRING) { gp__app_error(a, id, "bad_message", "message must be a string"); return -1; }
    ml = gp_json_unescape(text, &a->toks[mi], a->text, a->cfg.max_message);
    if (ml == GP_ERR_TOO_BIG) { gp__app_error(a, id, "message_too_long", "message is over the limit"); return -1; }
    if (ml < 0) { gp__app_error(a, id, "bad_message", "message has a bad escape"); return -1; }
    return ml;
}

static void gp__app_publish_result(gp_app *a, gp_conn_id id, int rc) {
    if (rc == GP_ERR_FULL) gp__app_error(a, id, "channel_unavailable", "channel down and backlog full");
    else if (rc != GP_OK) gp__app_error(a, id, "server_busy", "out of memory");
}

/* "id": a number or a string of at most GP__APP_MAX_ID bytes. Sets a->rid; 0 on a bad one
   (answered without an id). */
static int gp__app_take_id(gp_app *a, gp_conn_id id, const uint8_t *text, int tok) {
    const gp_json_tok *t = &a->toks[tok];
    uint8_t tmp[GP__APP_MAX_ID];
    if (t->type == GP_JSON_NUMBER && t->end - t->start <= GP__APP_MAX_ID) {
        a->rid_str = 0;
    } else if (t->type == GP_JSON_STRING && gp_json_unescape(text, t, tmp, sizeof tmp) >= 0) {
        a->rid_str = 1;
    } else {
        gp__app_error(a, id, "bad_id", "id must be a number or a string of at most 64 bytes");
        return 0;
    }
    a->rid = text + t->start;
    a->rlen = t->end - t->start;
    return 1;
}

/* "since": {"offset": a non-negative integer below 2^62, "epoch": a string of at most 64
   bytes}. 1 and the parts, or 0 (answered). */
static int gp__app_since(gp_app *a, gp_conn_id id, const uint8_t *text, int tok, int64_t *off, char *epoch, size_t *elen) {
    int oi, ei;
    size_t i;
    uint64_t v = 0;
    long n;
    const gp_json_tok *t;
    if (a->toks[tok].type != GP_JSON_OBJECT) goto bad;
    oi = gp_json_find(text, a->toks, tok, "offset");
    ei = gp_json_find(text, a->toks, tok, "epoch");
    if (oi < 0 || ei < 0 || a->toks[oi].type != GP_JSON_NUMBER || a->toks[ei].type != GP_JSON_STRING) goto bad;
    t = &a->toks[oi];
    if (t->end - t->start > 19) goto bad;
    for (i = t->start; i < t->end; i++) {
        if (text[i] < '0' || text[i] > '9') goto bad;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v >= GP__W_V2) goto bad;
    n = gp_json_unescape(text, &a->toks[ei], (uint8_t *)epoch, GP__APP_MAX_ID);
    if (n < 0) goto bad;
    *off = (int64_t)v;
    *elen = (size_t)n;
    return 1;
bad:
    gp__app_error(a, id, "bad_since", "since must be {\"offset\": a non-negative integer, \"epoch\": a string of at most 64 bytes}");
    return 0;
}

/* add_group on a v2 connection: joined at once (live messages are held), answered when the
   channel says where the group is. */
static void gp__app_v2_join(gp_app *a, gp_conn_id id, const uint8_t *gid, size_t glen, int has_since, int64_t since,
                            const char *epoch, size_t elen) {
    gp__app_pend *p;
    uint64_t *word;
    int rc, fresh;
    word = gp_group_word(a->groups, id, gid, glen);
    if (word && (*word & GP__W_WAIT)) {
        gp__app_error(a, id, "join_in_progress", "an add_group of this group is still being answered");
        return;
    }
    fresh = word == NULL;
    if (fresh) {
        rc = gp_group_join(a->groups, id, gid, glen);
        if (rc == GP_ERR_FULL) { gp__app_error(a, id, "too_many_groups", "this connection is in too many groups"); return; }
        if (rc != GP_OK || (word = gp_group_word(a->groups, id, gid, glen)) == NULL) {
            gp__app_error(a, id, "server_busy", "out of memory");
            return;
        }
        a->joins++;
    }
    if (gp__app_pend_new(a, GP__APP_JOIN, id, gid, glen, &p) != GP_OK) {
        gp__app_error(a, id, "server_busy", "out of memory");
        if (fresh) gp_group_leave(a->groups, id, gid, glen);
        return;
    }
    if (has_since) {
        p->asked = 1;
        p->since = since;
        p->elen = elen;
        memcpy(p->epoch, epoch, elen);
    } else if (!fresh && (*word & GP__W_V2)) {   /* joined already: go on from what it has */
        gp__app_grp *g = gp__app_grp_get(a, gid, glen);
        p->since = (int64_t)(*word & GP__W_LOW);
        if (g) { p->elen = g->elen; memcpy(p->epoch, g->epoch, g->elen); }
    }
    rc = gp__app_history(a, p);
    if (rc != GP_OK) {
        gp__app_error(a, id, rc == GP_ERR_FULL ? "channel_unavailable" : "server_busy",
                      rc == GP_ERR_FULL ? "channel down and backlog full" : "out of memory");
        gp__app_pend_free(a, p);
        if (fresh) gp_group_leave(a->groups, id, gid, glen);
        return;
    }
    *word = GP__W_V2 | GP__W_WAIT | p->idx;
}

/* A member leaves: a join still waiting is answered, delivers nothing. */
static void gp__app_v2_leave(gp_app *a, gp_conn_id id, const uint8_t *gid, size_t glen) {
    uint64_t *word = gp_group_word(a->groups, id, gid, glen);
    if (word && (*word & GP__W_WAIT)) a->pend[*word & GP__W_LOW]->dead = 1;
}

typedef struct gp__app_cmd_ctx {
    gp_app *a;
    gp_conn_id id;
    const uint8_t *text;
    gp__app_conn *pc;           /* NULL when neither tokens nor on_connect are set */
    uint8_t gid[1024];
    size_t glen;
    int v2, has_since;          /* protocol v2; add_group's since (checked) */
    int64_t since;
    char epoch[GP__APP_MAX_ID];
    size_t elen;
} gp__app_cmd_ctx;

/* 1 if the token's list allows name (always, without tokens); else answers forbidden. */
static int gp__app_claim(gp__app_cmd_ctx *x, const gp_bytes *list, const void *name, size_t len, const char *what) {
    if (!x->a->tokens || gp_jwt_match(*list, name, len)) return 1;
    gp__app_error(x->a, x->id, "forbidden", what);
    return 0;
}

static void gp__app_cmd_auth(gp__app_cmd_ctx *x) {
    gp_app *a = x->a;
    int ti = gp_json_find(x->text, a->toks, 0, "token");
    long n;
    const char *why;
    if (!a->tokens) { gp__app_error(a, x->id, "unknown_cmd", "tokens are not enabled on this server"); return; }
    if (ti < 0 || a->toks[ti].type != GP_JSON_STRING) { gp__app_error(a, x->id, "unauthorized", "token must be a string"); return; }
    n = gp_json_unescape(x->text, &a->toks[ti], a->tokbuf, a->cfg.max_token);
    if (n < 0) { gp__app_error(a, x->id, "unauthorized", n == GP_ERR_TOO_BIG ? "token too long" : "token has a bad escape"); return; }
    if ((why = gp__app_token(a, x->id, (size_t)n, 1)) != NULL) { gp__app_error(a, x->id, "unauthorized", why); return; }
    if ((x->pc = gp__app_conn_get(a, x->id)) != NULL)
        gp_group_each(a->groups, x->id, gp__app_recheck, x->pc);
    gp__app_ok(a, x->id, "", 0);   /* v2 with an id; nothing otherwise */
}

static void gp__app_cmd_add(gp__app_cmd_ctx *x) {
    gp_app *a = x->a;
    int rc;
    if (!gp__app_group_id(a, x->id, x->text, gp_json_find(x->text, a->toks, 0, "group_id"), x->gid, &x->glen)) return;
    if (!gp__app_claim(x, &x->pc->groups, x->gid, x->glen, "the token's groups do not include this group")) return;
    if (a->cfg.on_join && a->cfg.on_join(a, x->id, x->gid, x->glen, a->cfg.user) != GP_APP_ALLOW) {
        gp__app_error(a, x->id, "forbidden", "joining this group was refused");
        return;
    }
    if (x->v2) { gp__app_v2_join(a, x->id, x->gid, x->glen, x->has_since, x->since, x->epoch, x->elen); return; }
    rc = gp_group_join(a->groups, x->id, x->gid, x->glen);
    if (rc == GP_OK) a->joins++;
    if (rc == GP_ERR_FULL) gp__app_error(a, x->id, "too_many_groups", "this connection is in too many groups");
    else if (rc == GP_ERR_NOMEM) gp__app_error(a, x->id, "server_busy", "out of memory");
}

static void gp__app_cmd_leave(gp__app_cmd_ctx *x) {
    if (!gp__app_group_id(x->a, x->id, x->text, gp_json_find(x->text, x->a->toks, 0, "group_id"), x->gid, &x->glen)) return;
    if (x->v2) gp__app_v2_leave(x->a, x->id, x->gid, x->glen);
    gp_group_leave(x->a->groups, x->id, x->gid, x->glen);
    x->a->leaves++;
    gp__app_ok(x->a, x->id, "", 0);
}

static void gp__app_cmd_send(gp__app_cmd_ctx *x) {
    gp_app *a = x->a;
    int ei, self = 0, rc;
    long ml;
    gp__app_pend *p = NULL;
    if (!gp__app_group_id(a, x->id, x->text, gp_json_find(x->text, a->toks, 0, "group_id"), x->gid, &x->glen)) return;
    if ((ml = gp__app_message(a, x->id, x->text)) < 0) return;
    if ((ei = gp_json_find(x->text, a->toks, 0, "exclude_self")) >= 0) {
        if (a->toks[ei].type != GP_JSON_TRUE && a->toks[ei].type != GP_JSON_FALSE) {
            gp__app_error(a, x->id, "bad_exclude_self", "exclude_self must be true or false");
            return;
        }
        self = a->toks[ei].type == GP_JSON_TRUE;
    }
    if (!gp__app_claim(x, &x->pc->publish, x->gid, x->glen, "the token's publish does not include this group")) return;
    if (a->cfg.on_publish && a->cfg.on_publish(a, x->id, x->gid, x->glen, a->text, (size_t)ml, a->cfg.user) != GP_APP_ALLOW) {
        gp__app_error(a, x->id, "forbidden", "publishing to this group was refused");
        return;
    }
    a->env.len = 0;
    if (self) {
        uint8_t h[GP__APP_ENV_LEN];
        int i;
        memcpy(h, GP__APP_ENV, 6);
        for (i = 0; i < 8; i++) h[6 + i] = (uint8_t)(a->instance >> (56 - 8 * i));
        for (i = 0; i < 4; i++) h[14 + i] = (uint8_t)(x->id.v >> (24 - 8 * i));
        if (gp_buf_append(&a->env, h, sizeof h) != GP_OK || gp_buf_append(&a->env, a->text, (size_t)ml) != GP_OK) {
            gp__app_error(a, x->id, "server_busy", "out of memory");
            return;
        }
    }
    if (a->rid && gp__app_pend_new(a, GP__APP_ACK, x->id, NULL, 0, &p) != GP_OK) {
        gp__app_error(a, x->id, "server_busy", "out of memory");
        return;
    }
    /* through the PUBLISH script: the channel gives the offset (GROUP STREAMS) */
    rc = self ? gp__app_publish_msg(a, x->gid, x->glen, a->env.data, a->env.len, p)
              : gp__app_publish_msg(a, x->gid, x->glen, a->text, (size_t)ml, p);
    if (rc != GP_OK && p) gp__app_pend_free(a, p);
    if (rc == GP_OK) a->publishes++;
    gp__app_publish_result(a, x->id, rc);
}

static void gp__app_cmd_send_uid(gp__app_cmd_ctx *x) {
    gp_app *a = x->a;
    int ui = gp_json_find(x->text, a->toks, 0, "uid"), rc;
    long ml, ul;
    gp_bytes ch;
    if (ui < 0 || a->toks[ui].type != GP_JSON_STRING) { gp__app_error(a, x->id, "bad_uid", "uid must be a string"); return; }
    ul = gp_json_unescape(x->text, &a->toks[ui], x->gid, a->cfg.max_uid);
    if (ul == GP_ERR_TOO_BIG) { gp__app_error(a, x->id, "uid_too_long", "uid is over the limit"); return; }
    if (ul <= 0) { gp__app_error(a, x->id, "bad_uid", ul == 0 ? "uid is empty" : "uid has a bad escape"); return; }
    if ((ml = gp__app_message(a, x->id, x->text)) < 0) return;
    if (!gp__app_claim(x, &x->pc->send_to_uid, x->gid, (size_t)ul, "the token's send_to_uid does not include this user")) return;
    if (a->cfg.on_send_to_uid &&
        a->cfg.on_send_to_uid(a, x->id, x->gid, (size_t)ul, a->text, (size_t)ml, a->cfg.user) != GP_APP_ALLOW) {
        gp__app_error(a, x->id, "forbidden", "sending to this user was refused");
        return;
    }
    if (gp__app_chname(a, a->uprefix, a->uplen, x->gid, (size_t)ul, &ch) == NULL) {
        gp__app_error(a, x->id, "server_busy", "out of memory");
        return;
    }
    rc = gp_chancli_publish(a->chan, ch.ptr, ch.len, a->text, (size_t)ml);
    gp__app_publish_result(a, x->id, rc);
    if (rc == GP_OK) gp__app_ok(a, x->id, "", 0);   /* v2 with an id */
}

static void gp__app_cmd_info(gp__app_cmd_ctx *x) {
    gp_app *a = x->a;
    gp__app_query *q;
    gp_bytes ch;
    char head[48];
    size_t hl;
    int rc;
    if (!gp__app_group_id(a, x->id, x->text, gp_json_find(x->text, a->toks, 0, "group_id"), x->gid, &x->glen)) return;
    if (!gp__app_claim(x, &x->pc->groups, x->gid, x->glen, "the token's groups do not include this group")) return;
    if (a->nqueries >= a->cfg.max_info_queries) { gp__app_error(a, x->id, "server_busy", "too many group_info queries under way"); return; }
    {   /* no channel, no other worker can answer: say so rather than count only nothing */
        gp_chancli_stats cs;
        memset(&cs, 0, sizeof cs);
        gp_chancli_stats_get(a->chan, &cs);
        if (!cs.up) { gp__app_error(a, x->id, "channel_unavailable", "the channel is down: no member count"); return; }
    }
    {
        char rid[6 * GP__APP_MAX_ID + 2];
        size_t rl = gp__app_rid_copy(a, rid, sizeof rid);
        q = (gp__app_query *)gp__malloc(a->alloc_ctx, sizeof *q + x->glen + rl);
        if (q == NULL) { gp__app_error(a, x->id, "server_busy", "out of memory"); return; }
        memset(q, 0, sizeof *q);
        q->rlen = rl;
        memcpy(q->group + x->glen, rid, rl);
    }
    q->qid = ++a->next_qid;
    q->conn = x->id;
    q->glen = x->glen;
    q->app = a;
    memcpy(q->group, x->gid, x->glen);
    hl = gp_fmt(head, sizeof head, "%s %lu ", a->reply_ch + a->cplen + 2, (unsigned long)q->qid);
    a->env.len = 0;
    if (gp_buf_append(&a->env, head, hl) != GP_OK || gp_buf_append(&a->env, x->gid, x->glen) != GP_OK ||
        gp__app_chname(a, a->cprefix, a->cplen, "q", 1, &ch) == NULL ||
        (q->timer = gp_loop_timer_start(a->loop, a->cfg.info_window_ms, 0, gp__app_query_done, q)) == 0) {
        gp__free(a->alloc_ctx, q, sizeof *q + q->glen + q->rlen);
        gp__app_error(a, x->id, "server_busy", "out of memory");
        return;
    }
    q->next = a->queries;
    a->queries = q;
    a->nqueries++;
    rc = gp_chancli_publish(a->chan, ch.ptr, ch.len, a->env.data, a->env.len);
    if (rc != GP_OK) {
        gp_loop_timer_stop(a->loop, q->timer);
        gp__app_query_free(a, q);
        gp__app_publish_result(a, x->id, rc);
    }
}

/* The commands: one row each. auth = 0: needs a valid token when tokens are on. */
typedef struct gp__app_cmd { const char *name; size_t len; void (*fn)(gp__app_cmd_ctx *x); int open; } gp__app_cmd;
static const gp__app_cmd gp__app_cmds[] = {
    { "add_group", 9, gp__app_cmd_add, 0 },
    { "leave_group", 11, gp__app_cmd_leave, 0 },
    { "send_to_group", 13, gp__app_cmd_send, 0 },
    { "send_to_uid", 11, gp__app_cmd_send_uid, 0 },
    { "group_info", 10, gp__app_cmd_info, 0 },
    { "auth", 4, gp__app_cmd_auth, 1 },
};

static void gp__app_on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    gp_app *a = (gp_app *)user;
    gp__app_cmd_ctx x;
    uint8_t cmd[16];
    gp__app_conn none;
    long cl;
    int nt, ci, ii, si;
    size_t k;
    (void)srv;
    a->msgs_in++;
    a->rid = NULL;
    if (opcode != GP_WS_TEXT) { gp__app_error(a, id, "binary_not_supported", "send JSON commands as text frames"); return; }
    nt = gp_json_parse(data.ptr, data.len, a->toks, sizeof a->toks / sizeof a->toks[0]);
    if (nt < 0 || a->toks[0].type != GP_JSON_OBJECT) {
        gp__app_error(a, id, "bad_json", nt == GP_ERR_TOO_BIG ? "JSON too deeply nested or too many fields"
                                                               : nt < 0 ? "not valid JSON" : "expected a JSON object");
        return;
    }
    x.v2 = gp__app_is_v2(a, id);
    x.has_since = 0;
    ii = gp_json_find(data.ptr, a->toks, 0, "id");
    si = gp_json_find(data.ptr, a->toks, 0, "since");
    if (!x.v2 && (ii >= 0 || si >= 0)) {
        gp__app_error(a, id, "needs_v2", "id and since are protocol v2: connect with the subprotocol grouppush.v2");
        return;
    }
    if (ii >= 0 && !gp__app_take_id(a, id, data.ptr, ii)) return;
    ci = gp_json_find(data.ptr, a->toks, 0, "cmd");
    if (ci < 0 || a->toks[ci].type != GP_JSON_STRING) { gp__app_error(a, id, "bad_cmd", "cmd must be a string"); goto done; }
    cl = gp_json_unescape(data.ptr, &a->toks[ci], cmd, sizeof cmd);
    for (k = 0; k < sizeof gp__app_cmds / sizeof gp__app_cmds[0]; k++)
        if ((size_t)cl == gp__app_cmds[k].len && memcmp(cmd, gp__app_cmds[k].name, (size_t)cl) == 0) break;
    if (k == sizeof gp__app_cmds / sizeof gp__app_cmds[0]) {
        gp__app_error(a, id, "unknown_cmd", "cmd must be add_group, leave_group, send_to_group, send_to_uid, group_info or auth");
        goto done;
    }
    if (si >= 0 && !(x.has_since = gp__app_since(a, id, data.ptr, si, &x.since, x.epoch, &x.elen))) goto done;
    memset(&none, 0, sizeof none);   /* claims of a connection without state: empty */
    x.a = a;
    x.id = id;
    x.text = data.ptr;
    x.pc = gp__app_conn_get(a, id);
    x.glen = 0;
    if (a->tokens && !gp__app_cmds[k].open && (x.pc == NULL || x.pc->auth != GP__AUTH_OK)) {
        if (x.pc && x.pc->auth == GP__AUTH_EXPIRED) gp__app_error(a, id, "token_expired", "the token expired: send a fresh one with auth");
        else gp__app_error(a, id, "unauthorized", "no valid token: add ?token= to the URL or send {\"cmd\":\"auth\",\"token\":...}");
        goto done;
    }
    if (x.pc == NULL) x.pc = &none;
    gp__app_cmds[k].fn(&x);
done:
    a->rid = NULL;
}

static void gp__app_on_open(gp_ws_server *srv, gp_conn_id id, void *user) {
    gp_app *a = (gp_app *)user;
    gp__app_conn *pc = gp__app_conn_get(a, id);
    if (gp__app_is_v2(a, id)) a->nv2++;
    if (pc) {
        if (pc->uid.len && gp_group_join(a->users, id, pc->uid.ptr, pc->uid.len) != GP_OK) {
            gp_conn_close(srv, id, 1011, "out of memory");
            return;
        }
        gp__app_conn_arm(a, pc);
        if (pc->why) gp__app_error(a, id, "unauthorized", pc->why);
        pc->why = NULL;
    }
    if (a->cfg.ws.on_open) a->cfg.ws.on_open(srv, id, a->cfg.ws.user);
}

static void gp__app_on_close(gp_ws_server *srv, gp_conn_id id, int code, gp_bytes reason, void *user) {
    gp_app *a = (gp_app *)user;
    size_t i;
    if (gp__app_is_v2(a, id)) {
        a->v2[gp_conn_slot(id)] = 0;
        a->nv2--;
        for (i = 0; i < a->pend_cap; i++)   /* what it waits for is answered to nobody */
            if (a->pend[i] && a->pend[i]->conn.v == id.v) { a->pend[i]->dead = 1; a->pend[i]->rlen = 0; }
    }
    gp_group_leave_all(a->groups, id);
    gp_group_leave_all(a->users, id);
    if (a->cfg.ws.on_close) a->cfg.ws.on_close(srv, id, code, reason, a->cfg.ws.user);
    if (gp__app_conn_get(a, id)) gp__app_conn_free(a, gp_conn_slot(id));
}

static int gp__app_on_accept(gp_ws_server *srv, gp_conn_id id, const gp_http_request *req, gp_ws_accept *acc, void *user) {
    gp_app *a = (gp_app *)user;
    gp__app_conn *pc;
    gp_app_connect c;
    const uint8_t *q;
    char peer[80];
    long tl;
    int rc;
    uint32_t s = gp_conn_slot(id);
    if (a->cfg.ws.on_accept && (rc = a->cfg.ws.on_accept(srv, id, req, acc, a->cfg.ws.user)) != 0) return rc;
    if (s >= a->v2_cap) {   /* which connections speak v2: by slot */
        size_t old = a->v2_cap;
        if (gp__grow(a->alloc_ctx, (void **)&a->v2, &a->v2_cap, (size_t)s + 1, sizeof *a->v2) != GP_OK) return 503;
        memset(a->v2 + old, 0, (a->v2_cap - old) * sizeof *a->v2);
    }
    a->v2[s] = acc->protocol && strcmp(acc->protocol, GP__APP_PROTO) == 0 ? id.v : 0;
    if (!a->tokens && a->cfg.on_connect == NULL) return 0;
    memset(&c, 0, sizeof c);
    c.req = req;
    c.path = req->path;
    if ((q = (const uint8_t *)memchr(req->path.ptr, '?', req->path.len)) != NULL) {
        c.path.len = (size_t)(q - req->path.ptr);
        c.query.ptr = q + 1;
        c.query.len = req->path.len - c.path.len - 1;
    }
    if (a->cfg.on_connect) {
        gp_conn_peer(srv, id, peer, sizeof peer);
        c.peer = peer;
        if ((rc = a->cfg.on_connect(a, id, &c, a->cfg.user)) != 0) return rc;
    }
    rc = c.uid_len > a->cfg.max_uid || (c.uid == NULL && c.uid_len) ? 400 : 0;
    if (rc == 0 && (pc = gp__app_conn_set(a, id, c.uid, c.uid ? c.uid_len : 0, NULL)) == NULL) rc = 503;
    if (rc != 0) {
        if (c.data && a->cfg.on_release) a->cfg.on_release(a, id, c.data, a->cfg.user);
        return rc;
    }
    pc->data = c.data;
    if (a->tokens && (tl = gp_http_query_get(c.query, "token", a->tokbuf, a->cfg.max_token)) != -1) {
        const char *why = tl < 0 ? "token too long" : gp__app_token(a, id, (size_t)tl, 0);   /* may move pc */
        if ((pc = gp__app_conn_get(a, id)) != NULL) pc->why = why;
    }
    return 0;
}

static void gp__app_on_http(gp_ws_server *srv, const gp_http_request *req, gp_http_response *res, void *user) {
    gp_app *a = (gp_app *)user;
    if (a->cfg.ws.on_http) a->cfg.ws.on_http(srv, req, res, a->cfg.ws.user);
}

static void gp__app_on_state(gp_chancli *c, int up, void *user) {
    gp_app *a = (gp_app *)user;
    (void)c;
    if (up && !a->ready_fired) {
        a->ready_fired = 1;
        if (a->cfg.on_ready) a->cfg.on_ready(a, a->cfg.user);
    } else if (up) {   /* back after an outage: what was published meanwhile is in the streams */
        gp__app_grp *g;
        for (g = a->grps; g; g = g->next)
            if (g->repair == NULL && g->top > 0) gp__app_repair(a, g);
    }
}

static void gp__app_defaults(gp_app_config *cfg) {
    GP__DEF(cfg->max_group_id, 128);
    if (cfg->max_group_id > 1024) cfg->max_group_id = 1024;
    GP__DEF(cfg->max_message, 65536);
    GP__DEF(cfg->max_groups_per_conn, 1024);
    GP__DEF(cfg->max_uid, 128);
    if (cfg->max_uid > 1024) cfg->max_uid = 1024;
    GP__DEF(cfg->max_info_queries, 1024);
    GP__DEF(cfg->info_window_ms, 100);
    GP__DEF(cfg->token_grace_ms, 30000);
    GP__DEF(cfg->max_token, 4096);
    if (cfg->token_skew_s > 86400) cfg->token_skew_s = 86400;
    GP__DEF(cfg->history_size, 100);
    GP__DEF(cfg->history_ttl_ms, 600000);
    GP__DEF(cfg->max_recover, cfg->history_size == GP_APP_NO_HISTORY ? 1 : cfg->history_size);
}

/* 64 random bits naming this app instance (not a secret: origin and reply addresses). */
static uint64_t gp__app_instance(const void *salt) {
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
        close(fd);
    }
    v ^= gp_time_ms() * 0x9E3779B97F4A7C15ull ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)salt;
    return v ? v : 1;
}

GP_API int gp_app_create(gp_loop *loop, const gp_app_config *cfg, gp_app **out) {
    gp_app *a;
    gp_ws_config wc;
    gp_group_config gc;
    gp_chancli_config cc;
    gp_bytes ch;
    int rc, i;
    if (loop == NULL || cfg == NULL || out == NULL) return GP_ERR_INVAL;
    *out = NULL;
    a = (gp_app *)gp__calloc(gp_loop_alloc_ctx(loop), sizeof *a);
    if (a == NULL) return GP_ERR_NOMEM;
    a->loop = loop;
    a->alloc_ctx = gp_loop_alloc_ctx(loop);
    a->cfg = *cfg;
    gp__app_defaults(&a->cfg);
    a->scratch.alloc_ctx = a->env.alloc_ctx = a->keys.alloc_ctx = a->alloc_ctx;
    a->rng = gp_time_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)a;
    a->rng |= 1;
    {   /* grouppush.v2 first, then the names the user gave (spoken as v1) */
        const char *up = cfg->ws.protocols;
        a->protocols_size = sizeof GP__APP_PROTO + (up && up[0] ? strlen(up) + 1 : 0);
        if ((a->protocols = (char *)gp__malloc(a->alloc_ctx, a->protocols_size)) == NULL) { gp_app_destroy(a); return GP_ERR_NOMEM; }
        memcpy(a->protocols, GP__APP_PROTO, sizeof GP__APP_PROTO);
        if (up && up[0]) {
            a->protocols[sizeof GP__APP_PROTO - 1] = ',';
            memcpy(a->protocols + sizeof GP__APP_PROTO, up, strlen(up) + 1);
        }
    }
    {
        const char *p = cfg->prefix ? cfg->prefix : "group:", *u = cfg->user_prefix ? cfg->user_prefix : "user:";
        const char *k = cfg->control_prefix ? cfg->control_prefix : "gp:ctl:";
        a->plen = strlen(p);
        a->uplen = strlen(u);
        a->cplen = strlen(k);
        if (a->cplen > sizeof a->reply_ch - 20) { gp__free(a->alloc_ctx, a, sizeof *a); return GP_ERR_INVAL; }
        a->prefixes_size = a->plen + a->uplen + a->cplen + 3;
        if ((a->prefix = (char *)gp__malloc(a->alloc_ctx, a->prefixes_size)) != NULL) {
            a->uprefix = a->prefix + a->plen + 1;
            a->cprefix = a->uprefix + a->uplen + 1;
            memcpy(a->prefix, p, a->plen + 1);
            memcpy(a->uprefix, u, a->uplen + 1);
            memcpy(a->cprefix, k, a->cplen + 1);
        }
    }
    a->instance = gp__app_instance(a);
    gp_fmt(a->reply_ch, sizeof a->reply_ch, "%sr:%016llx", a->cprefix ? a->cprefix : "", (unsigned long long)a->instance);
    a->text = (uint8_t *)gp__malloc(a->alloc_ctx, a->cfg.max_message);
    if (a->prefix == NULL || a->text == NULL) { gp_app_destroy(a); return GP_ERR_NOMEM; }
    if (cfg->token_secret[0].len > 0) {   /* tokens: the secrets copied, the work memory */
        a->tokens = 1;
        a->secrets_len = cfg->token_secret[0].len + cfg->token_secret[1].len;
        a->jwt_work_size = GP_JWT_WORK_SIZE(a->cfg.max_token);
        a->secrets = (uint8_t *)gp__malloc(a->alloc_ctx, a->secrets_len);
        a->tokbuf = (uint8_t *)gp__malloc(a->alloc_ctx, a->cfg.max_token);
        a->jwt_work = (uint8_t *)gp__malloc(a->alloc_ctx, a->jwt_work_size);
        if (a->secrets == NULL || a->tokbuf == NULL || a->jwt_work == NULL) { gp_app_destroy(a); return GP_ERR_NOMEM; }
        for (i = 0, rc = 0; i < 2; i++) {
            if (cfg->token_secret[i].len && cfg->token_secret[i].ptr == NULL) { gp_app_destroy(a); return GP_ERR_INVAL; }
            if (cfg->token_secret[i].len) memcpy(a->secrets + rc, cfg->token_secret[i].ptr, cfg->token_secret[i].len);
            a->jwt.secret[i].ptr = a->secrets + rc;
            a->jwt.secret[i].len = cfg->token_secret[i].len;
            rc += (int)cfg->token_secret[i].len;
        }
        a->jwt.skew = (int64_t)a->cfg.token_skew_s;
    }
    wc = cfg->ws;
    wc.protocols = a->protocols;
    wc.on_open = gp__app_on_open;
    wc.on_message = gp__app_on_message;
    wc.on_close = gp__app_on_close;
    wc.on_accept = gp__app_on_accept;
    wc.on_http = gp__app_on_http;
    wc.user = a;
    memset(&gc, 0, sizeof gc);
    gc.max_groups_per_conn = a->cfg.max_groups_per_conn;
    gc.max_name = a->cfg.max_group_id;
    gc.on_first = gp__app_first;
    gc.on_empty = gp__app_empty;
    gc.user = a;
    cc = cfg->chan;
    cc.on_message = gp__app_on_channel;
    cc.on_state = gp__app_on_state;
    cc.user = a;
    if ((rc = gp_ws_create(loop, &wc, &a->ws)) != GP_OK || (rc = gp_group_create(a->ws, &gc, &a->groups)) != GP_OK) {
        gp_app_destroy(a);
        return rc;
    }
    gc.max_groups_per_conn = 1;   /* users: one "group" per connection, its user id */
    gc.max_name = a->cfg.max_uid;
    if ((rc = gp_group_create(a->ws, &gc, &a->users)) != GP_OK || (rc = gp_chancli_create(loop, &cc, &a->chan)) != GP_OK) {
        gp_app_destroy(a);
        return rc;
    }
    /* group_info: every app hears the queries and its own answers */
    rc = gp__app_chname(a, a->cprefix, a->cplen, "q", 1, &ch) == NULL ? GP_ERR_NOMEM
         : gp_chancli_subscribe(a->chan, ch.ptr, ch.len, gp__app_on_query, a);
    if (rc == GP_OK) rc = gp_chancli_subscribe(a->chan, a->reply_ch, strlen(a->reply_ch), gp__app_on_answer, a);
    if (rc == GP_OK) rc = gp_chancli_load_script(a->chan, GP_CHAN_SCRIPT_PUBLISH, a->sha_pub);
    if (rc == GP_OK) rc = gp_chancli_load_script(a->chan, GP_CHAN_SCRIPT_HISTORY, a->sha_hist);
    if (rc != GP_OK) { gp_app_destroy(a); return rc; }
    *out = a;
    return GP_OK;
}

GP_API void gp_app_destroy(gp_app *a) {
    size_t i;
    if (a == NULL) return;
    while (a->queries) {
        gp_loop_timer_stop(a->loop, a->queries->timer);
        gp__app_query_free(a, a->queries);
    }
    for (i = 0; i < a->pc_cap; i++) gp__app_conn_free(a, (uint32_t)i);
    gp__free(a->alloc_ctx, a->pc, a->pc_cap * sizeof *a->pc);
    gp_chancli_destroy(a->chan);
    for (i = 0; i < a->pend_cap; i++) if (a->pend[i]) gp__app_pend_free(a, a->pend[i]);
    gp__free(a->alloc_ctx, a->pend, a->pend_cap * sizeof *a->pend);
    gp_group_destroy(a->users);
    gp_group_destroy(a->groups);   /* no on_empty: the groups' gp__app_grp go here */
    while (a->grps) gp__app_grp_free(a, a->grps);
    gp_ws_destroy(a->ws);
    gp_buf_free(&a->scratch);
    gp_buf_free(&a->env);
    gp_buf_free(&a->keys);
    gp__free(a->alloc_ctx, a->v2, a->v2_cap * sizeof *a->v2);
    gp__free(a->alloc_ctx, a->protocols, a->protocols_size);
    gp__free(a->alloc_ctx, a->text, a->cfg.max_message);
    gp__free(a->alloc_ctx, a->secrets, a->secrets_len);
    gp__free(a->alloc_ctx, a->tokbuf, a->cfg.max_token);
    gp__free(a->alloc_ctx, a->jwt_work, a->jwt_work_size);
    gp__free(a->alloc_ctx, a->prefix, a->prefixes_size);
    gp__free(a->alloc_ctx, a, sizeof *a);
}

GP_API gp_ws_server *gp_app_ws(gp_app *a) { return a ? a->ws : NULL; }
GP_API gp_chancli *gp_app_channel(gp_app *a) { return a ? a->chan : NULL; }
GP_API gp_groups *gp_app_groups(gp_app *a) { return a ? a->groups : NULL; }
GP_API void gp_app_stats_get(const gp_app *a, gp_app_stats *st) {
    gp_ws_stats ws;
    if (a == NULL || st == NULL) return;
    memset(st, 0, sizeof *st);
    gp_ws_stats_get(a->ws, &ws);
    st->connections = ws.connections;
    gp_group_counts(a->groups, &st->groups, &st->memberships);
    st->msgs_in = a->msgs_in;
    st->msgs_out = a->msgs_out;
    st->errors = a->errors;
    st->joins = a->joins;
    st->leaves = a->leaves;
    st->publishes = a->publishes;
}

GP_API int gp_app_publish(gp_app *a, const void *group, size_t glen, const void *msg, size_t len) {
    if (a == NULL || group == NULL || glen == 0) return GP_ERR_INVAL;
    return gp__app_publish_msg(a, group, glen, msg, len, NULL);
}

GP_API int gp_app_send_to_uid(gp_app *a, const void *uid, size_t ulen, const void *msg, size_t len) {
    gp_bytes ch;
    if (a == NULL || uid == NULL || ulen == 0) return GP_ERR_INVAL;
    if (gp__app_chname(a, a->uprefix, a->uplen, uid, ulen, &ch) == NULL) return GP_ERR_NOMEM;
    return gp_chancli_publish(a->chan, ch.ptr, ch.len, msg, len);
}

GP_API gp_bytes gp_app_conn_uid(const gp_app *a, gp_conn_id id) {
    const gp__app_conn *pc = a ? gp__app_conn_get(a, id) : NULL;
    gp_bytes none;
    none.ptr = NULL;
    none.len = 0;
    return pc ? pc->uid : none;
}

GP_API void *gp_app_conn_data(const gp_app *a, gp_conn_id id) {
    const gp__app_conn *pc = a ? gp__app_conn_get(a, id) : NULL;
    return pc ? pc->data : NULL;
}
GP_API int gp_app_check_channel(const gp_chancli_config *chan, uint64_t timeout_ms, char *why, size_t cap) {
    const char *host = chan && chan->host ? chan->host : "127.0.0.1";
    const char *user = chan && chan->username ? chan->username : "default";
    int port = chan && chan->port ? chan->port : 2206, fd = -1, rc = GP_ERR_AGAIN;
    uint64_t deadline;
    gp_buf out, in;
    gp_bytes argv[5];
    gp_chan_value v[16];
    size_t off = 0, n = 2, nv = 0;
    char dummy[1];
    if (why == NULL || cap == 0) { why = dummy; cap = sizeof dummy; }
    why[0] = '\0';
    if (chan == NULL) return GP_ERR_INVAL;
    deadline = gp_time_ms() + (timeout_ms ? timeout_ms : 3000);
    memset(&out, 0, sizeof out);
    memset(&in, 0, sizeof in);
    argv[0].ptr = (const uint8_t *)"HELLO"; argv[0].len = 5;
    argv[1].ptr = (const uint8_t *)"3"; argv[1].len = 1;
    if (chan->password) {
        argv[2].ptr = (const uint8_t *)"AUTH"; argv[2].len = 4;
        argv[3].ptr = (const uint8_t *)user; argv[3].len = strlen(user);
        argv[4].ptr = (const uint8_t *)chan->password; argv[4].len = strlen(chan->password);
        n = 5;
    }
    if (gp_chan_put_command(&out, n, argv) != GP_OK) {
        rc = GP_ERR_NOMEM;
        gp_fmt(why, cap, "out of memory");
        goto done;
    }
    if (gp_net_connect(host, port, &fd) != GP_OK) {
        rc = GP_ERR_IO;
        gp_fmt(why, cap, "cannot connect to the channel %s:%d: %s", host, port, strerror(errno));
        goto done;
    }
    for (;;) {   /* connect, send HELLO, read one reply: each step waits for its event */
        struct pollfd p;
        uint64_t now = gp_time_ms();
        long pr;
        ssize_t r;
        if (now >= deadline) { gp_fmt(why, cap, "the channel %s:%d did not answer HELLO in time", host, port); break; }
        p.fd = fd;
        p.events = off < out.len ? POLLOUT : POLLIN;
        p.revents = 0;
        if (poll(&p, 1, (int)GP__MIN(deadline - now, (uint64_t)1000)) <= 0) continue;
        if (off < out.len) {
            if (off == 0 && gp_net_connect_result(fd) != GP_OK) {
                rc = GP_ERR_IO;
                gp_fmt(why, cap, "cannot connect to the channel %s:%d: %s", host, port, strerror(errno));
                break;
            }
            r = send(fd, out.data + off, out.len - off, MSG_NOSIGNAL);
            if (r > 0) off += (size_t)r;
            else if (r < 0 && errno != EAGAIN && errno != EINTR) {
                rc = GP_ERR_IO;
                gp_fmt(why, cap, "cannot talk to the channel %s:%d: %s", host, port, strerror(errno));
                break;
            }
            continue;
        }
        if (gp_buf_reserve(&in, 4096) != GP_OK) { rc = GP_ERR_NOMEM; gp_fmt(why, cap, "out of memory"); break; }
        r = recv(fd, in.data + in.len, in.cap - in.len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (r <= 0) {
            rc = GP_ERR_IO;
            gp_fmt(why, cap, "the channel %s:%d closed the connection after HELLO%s%s", host, port,
                     r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
            break;
        }
        in.len += (size_t)r;
        pr = gp_chan_parse(in.data, in.len, v, sizeof v / sizeof v[0], &nv, 1u << 20);
        if (pr == 0) continue;
        if (pr == GP_ERR_TOO_BIG) { rc = GP_OK; break; }   /* a big HELLO map: it is an answer */
        if (pr < 0) { rc = GP_ERR_PROTOCOL; gp_fmt(why, cap, "the channel %s:%d does not speak RESP", host, port); break; }
        if (v[0].type == GP_CHAN_ERROR || v[0].type == GP_CHAN_BLOBERR) {
            int old = v[0].str.len >= 19 && memcmp(v[0].str.ptr, "ERR unknown command", 19) == 0;
            rc = GP_ERR_PROTOCOL;
            gp_fmt(why, cap, "the channel %s:%d refused HELLO 3%s: %.*s%s", host, port, chan->password ? " AUTH" : "",
                     (int)GP__MIN(v[0].str.len, (size_t)240), (const char *)v[0].str.ptr,
                     old ? " (a Redis channel must be version 6 or later)" : "");
        } else {
            rc = GP_OK;
        }
        break;
    }
done:
    if (fd >= 0) close(fd);
    gp_buf_free(&out);
    gp_buf_free(&in);
    return rc;
}

#endif /* GROUPPUSH_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the grouppush authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication for the benefit of the public at large and to
the detriment of our heirs and successors. We intend this dedication to be an
overt act of relinquishment in perpetuity of all present and future rights to
this software under copyright law.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
