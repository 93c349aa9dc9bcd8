#!/usr/bin/python3
"""tests/install.py - the three ways to use grouppush, tried from outside the tree:

  0. `make install PREFIX=<tmp>`: the header (byte for byte), grouppush.pc, the CMake
     package files and the ready programs (each answers --version with the header's
     version), with DESTDIR staging too;
  1. a tiny out-of-tree project built with make + pkg-config against that prefix;
  2. the same project built with CMake, find_package(grouppush 0.2 CONFIG) on that prefix
     (and find_package(grouppush 9.0) refused: the version file says why);
  3. the same project built with CMake, add_subdirectory() on this checkout.
Each build is run: it serves WebSocket echo on a port the kernel picks and a real client
(tests/lib/ws) checks that a message comes back. The project lives in a temporary
directory outside the checkout, so only the installed (or added) header can be found.

    python3 tests/install.py        (needs make, cc, pkg-config, cmake)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # tests/
from lib import Fail, proc, report, ws  # noqa: E402

ROOT = proc.ROOT
with open(os.path.join(ROOT, "grouppush.h")) as _f:
    VERSION = re.search(r'^#define GP_VERSION_STRING "([^"]+)"', _f.read(), re.M).group(1)

APP_C = r'''/* a program outside the grouppush tree: WebSocket echo on a port the kernel picks */
#define GROUPPUSH_IMPLEMENTATION
#include <grouppush.h>

static void on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    (void)user;
    gp_ws_send(srv, id, opcode, data.ptr, data.len);
}
int main(void) {
    gp_loop *loop;
    gp_ws_server *srv;
    gp_ws_config cfg = {0};
    cfg.on_message = on_message;
    if (gp_loop_create(NULL, &loop) != GP_OK || gp_ws_create(loop, &cfg, &srv) != GP_OK ||
        gp_ws_listen(srv, "127.0.0.1", 0, 0) != GP_OK) return 1;
    gp_print(1, "app %s listening on 127.0.0.1:%d\n", GP_VERSION_STRING, gp_ws_port(srv));
    return gp_loop_run(loop);
}
'''
MAKEFILE = '''# pkg-config finds the installed grouppush (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig)
CFLAGS += -std=c99 -Wall -Wextra -Werror -O2 $(shell pkg-config --cflags grouppush)
app: app.c
\t$(CC) $(CFLAGS) app.c -o app $(shell pkg-config --libs grouppush)
'''
CMAKE_FIND = '''cmake_minimum_required(VERSION 3.13)
project(app LANGUAGES C)
find_package(grouppush %s REQUIRED CONFIG)
add_executable(app app.c)
target_link_libraries(app PRIVATE grouppush::grouppush)
target_compile_options(app PRIVATE -Wall -Wextra -Werror)
set_target_properties(app PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
'''
CMAKE_SUB = '''cmake_minimum_required(VERSION 3.13)
project(app LANGUAGES C)
add_subdirectory("%s" grouppush)
add_executable(app app.c)
target_link_libraries(app PRIVATE grouppush::grouppush)
target_compile_options(app PRIVATE -Wall -Wextra -Werror)
set_target_properties(app PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
'''


def run(argv, cwd, env=None, ok=True):
    r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if ok and r.returncode != 0:
        raise Fail("%s (in %s) exited %d: %s" % (" ".join(argv), cwd, r.returncode, (r.stdout + r.stderr)[-1500:]))
    return r


def project(tmp, name, files):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    for fn, text in files.items():
        with open(os.path.join(d, fn), "w") as f:
            f.write(text)
    return d


def echo_check(exe):
    """Runs the built program; a message must come back from it."""
    p = proc.Proc([exe], merge=False)
    try:
        m = p.wait_line(r"^app (\S+) listening on 127\.0\.0\.1:(\d+)$", 5)
        if m is None:
            raise Fail("no ready line from %s (status %s)" % (exe, p.poll()))
        if m.group(1) != VERSION:
            raise Fail("%s was built against grouppush %s, want %s" % (exe, m.group(1), VERSION))
        c = ws.Client(int(m.group(2)))
        c.send_frame(ws.TEXT, b"hello from outside")
        c.expect(ws.TEXT, b"hello from outside", what="the echo from %s" % exe)
        c.close()
    finally:
        p.stop()


def installed(R, prefix, staged):
    R.check(open(os.path.join(prefix, "include", "grouppush.h"), "rb").read() ==
            open(os.path.join(ROOT, "grouppush.h"), "rb").read(), "the installed header is grouppush.h")
    for f in ("lib/pkgconfig/grouppush.pc", "lib/cmake/grouppush/grouppushConfig.cmake",
              "lib/cmake/grouppush/grouppushConfigVersion.cmake", "share/grouppush/index.html"):
        R.check(os.path.isfile(os.path.join(prefix, f)), "installed %s" % f)
    for prog in ("grouppush_server", "grouppush_channel_server", "grouppush_publish", "grouppush_echo"):
        exe = os.path.join(prefix, "bin", prog)
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10) \
            if os.access(exe, os.X_OK) else None
        R.check(r is not None and r.returncode == 0 and r.stdout.strip().endswith(VERSION),
                "%s --version names %s" % (prog, VERSION), r and (r.stdout + r.stderr))
    R.check(sorted(os.listdir(staged)) == ["usr"] and
            os.path.isfile(os.path.join(staged, "usr", "include", "grouppush.h")),
            "make install DESTDIR=... PREFIX=/usr stages everything under DESTDIR/usr",
            "staged: %s" % sorted(os.listdir(staged)))


def main():
    R = report.Results("install")
    for tool in ("make", "pkg-config", "cmake"):
        if shutil.which(tool) is None:
            report.skip("install", "%s not installed (Debian: make, pkgconf, cmake)" % tool)
    proc.guard("install", 600)
    tmp = tempfile.mkdtemp(prefix="grouppush-install-")
    try:
        prefix = os.path.join(tmp, "prefix")
        staged = os.path.join(tmp, "staged")
        run(["make", "-s", "install", "PREFIX=" + prefix], ROOT)
        run(["make", "-s", "install", "PREFIX=/usr", "DESTDIR=" + staged], ROOT)
        R.part("make install", installed, R, prefix, staged)

        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        r = run(["pkg-config", "--modversion", "grouppush"], tmp, env)
        R.check(r.stdout.strip() == VERSION, "pkg-config --modversion grouppush is %s" % VERSION, r.stdout)
        r = run(["pkg-config", "--cflags", "grouppush"], tmp, env)
        R.check(r.stdout.strip() == "-I" + os.path.join(prefix, "include"),
                "pkg-config --cflags points at PREFIX/include", r.stdout)

        def with_make():
            d = project(tmp, "make-app", {"app.c": APP_C, "Makefile": MAKEFILE})
            run(["make", "-s"], d, env)
            echo_check(os.path.join(d, "app"))
        R.run("an out-of-tree program built with make + pkg-config runs", with_make)

        def with_cmake(name, cmakelists, args):
            d = project(tmp, name, {"app.c": APP_C, "CMakeLists.txt": cmakelists})
            b = os.path.join(d, "build")
            run(["cmake", "-S", d, "-B", b] + args, d)
            run(["cmake", "--build", b], d)
            echo_check(os.path.join(b, "app"))
        R.run("an out-of-tree program built with CMake find_package(grouppush %s) runs" % VERSION[:3],
              with_cmake, "cmake-find", CMAKE_FIND % VERSION[:3], ["-DCMAKE_PREFIX_PATH=" + prefix])
        R.run("an out-of-tree program built with CMake add_subdirectory(grouppush) runs",
              with_cmake, "cmake-sub", CMAKE_SUB % ROOT, [])

        d = project(tmp, "cmake-too-new", {"app.c": APP_C, "CMakeLists.txt": CMAKE_FIND % "9.0"})
        r = run(["cmake", "-S", d, "-B", os.path.join(d, "build"), "-DCMAKE_PREFIX_PATH=" + prefix], d, ok=False)
        R.check(r.returncode != 0 and VERSION in r.stdout + r.stderr,
                "find_package(grouppush 9.0) is refused, naming the installed %s" % VERSION,
                (r.stdout + r.stderr)[-600:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
