#!/usr/bin/env python3
"""End-to-end tests of remote devices: real cuvirtd processes on 127.0.0.1
(free ports) and ipc://, real clients through cuvirt's libcuda.so.1.

usage: remote_test.py --build DIR CASE [ARGS...]
Every wait is bounded; exit 0 pass, 1 fail, 77 skip (loudly)."""
import argparse, json, os, shutil, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, build, tmp, args=(), endpoint=None, name="srv"):
        self.endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
        self.log_path = os.path.join(tmp, f"{name}-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        cmd = [os.path.join(build, "tools", "cuvirtd"), "--listen", self.endpoint, "--name", name] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if "event=listen" in open(self.log_path).read():
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"cuvirtd exited early:\n{open(self.log_path).read()}")
            time.sleep(0.05)
        raise SystemExit("cuvirtd did not start in 15 s")

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise SystemExit("cuvirtd did not stop within 20 s of SIGTERM")
        self.log.close()

    def text(self):
        return open(self.log_path).read()


def client_env(build, remote=None, backend=None, extra=None):
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.path.join(build, "shims") + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env.pop("CUVIRT_REMOTE", None)
    env.pop("CUVIRT_BACKEND", None)
    if remote:
        env["CUVIRT_REMOTE"] = remote
    if backend:
        env["CUVIRT_BACKEND"] = backend
    env.setdefault("CUVIRT_JIT_CACHE", "off")
    env.update(extra or {})
    return env


def run(cmd, env, timeout=120):
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout} s"
    return p.returncode, p.stdout, p.stderr


def stats(build, endpoint):
    rc, out, err = run([os.path.join(build, "tests", "remote", "remote_probe"), "stats", endpoint], os.environ, 20)
    if rc != 0:
        return None
    sessions, committed, rejected, bulk = map(int, out.split()[:4])
    return {"sessions": sessions, "committed": committed, "rejected": rejected, "bulk": bulk}


def expect(cond, what):
    if not cond:
        raise SystemExit("FAIL: " + what)
    print("ok:", what)


PY = sys.executable


def case_smoke(a, tmp):
    servers = [Server(a.build, tmp, ["--insecure"])]
    if a.args and a.args[0] == "two":
        servers.append(Server(a.build, tmp, ["--insecure"], endpoint=f"ipc://{tmp}/cuvirtd.sock", name="srv-ipc"))
    try:
        remote = ",".join(s.endpoint for s in servers)
        backend = "remote,cpu" if a.args and a.args[0] == "pool" else None
        n = len(servers) + (1 if backend else 0)
        rc, out, err = run([PY, os.path.join(HERE, "smoke_ctypes.py")],
                           client_env(a.build, remote, backend, {"EXPECT_DEVICES": str(n)}))
        print(out, err)
        expect(rc == 0, f"driver-API smoke test on {n} device(s) ({remote})")
        # The sessions ended with the clients (Goodbye at exit).
        time.sleep(0.2)
        for s in servers:
            st = stats(a.build, s.endpoint)
            expect(st is not None and st["committed"] == 0, f"{s.endpoint}: memory back at 0 after exit: {st}")
    finally:
        for s in servers:
            s.stop()


def case_program(a, tmp):
    """program EXE [expect-stdout=FILE] [expect-stderr=REGEX] [ARGS...]: the
    program's exit status locally and remotely; with expect-*, the client's
    own stdout/stderr must hold the kernels' printf and assert output."""
    import re
    prog = a.args[0]
    rest, want_out, want_err = [], None, None
    for arg in a.args[1:]:
        if arg.startswith("expect-stdout="):
            want_out = open(arg.split("=", 1)[1]).read()
        elif arg.startswith("expect-stderr="):
            want_err = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    rc0, out0, err0 = run([prog] + rest, client_env(a.build), 300)
    if rc0 != 0:
        print(f"SKIP: {os.path.basename(prog)} fails locally too (rc {rc0}); nothing to compare:\n{err0[-2000:]}")
        return SKIP
    s1 = Server(a.build, tmp, ["--insecure"], name="one")
    s2 = Server(a.build, tmp, ["--insecure"], endpoint=f"ipc://{tmp}/two.sock", name="two")
    try:
        for remote in (s1.endpoint, s1.endpoint + "," + s2.endpoint):
            rc, out, err = run([prog] + rest, client_env(a.build, remote), 300)
            if rc != 0:
                print(out, err[-4000:])
                text = out + err
                # Remote devices report canMapHostMemory = 0 (remote/README.md): a
                # program that maps host memory without asking fails as it would there.
                if "(801)" in text and "HostGetDevicePointer" in text:
                    print("SKIP: the program maps host memory; remote devices report canMapHostMemory = 0")
                    return SKIP
            expect(rc == 0, f"{os.path.basename(prog)} on {remote}: exit {rc} (local: 0)")
            if want_out is not None:
                if out != want_out:
                    print(f"--- expected\n{want_out}\n--- client stdout\n{out}\n--- stderr\n{err[-2000:]}")
                expect(out == want_out, f"kernel printf output on the client's stdout ({remote})")
            elif out != out0:
                print(f"note: stdout differs from the local run\n--- local\n{out0}\n--- remote\n{out}")
            if want_err is not None:
                expect(re.search(want_err, err) is not None, f"assertion message on the client's stderr ({remote})")
    finally:
        s1.stop()
        s2.stop()


HOLDER = r"""
import ctypes, sys, time
cu = ctypes.CDLL("libcuda.so.1")
assert cu.cuInit(0) == 0
ctx = ctypes.c_void_p(); assert cu.cuCtxCreate_v2(ctypes.byref(ctx), 0, 0) == 0
d = ctypes.c_uint64(); assert cu.cuMemAlloc_v2(ctypes.byref(d), ctypes.c_size_t(64 << 20)) == 0
s = ctypes.c_void_p(); assert cu.cuStreamCreate(ctypes.byref(s), 0) == 0
print("ready", flush=True)
if sys.argv[1] == "hold":
    time.sleep(120)
else:
    # Until the server goes away: every call must fail, and soon.
    buf = (ctypes.c_uint8 * 4096)()
    for i in range(100000):
        r = cu.cuMemcpyHtoD_v2(d, buf, ctypes.c_size_t(4096))
        if r == 0:
            r = cu.cuMemsetD8Async(d, ctypes.c_ubyte(1), ctypes.c_size_t(4096), s)
        if r == 0:
            r = cu.cuStreamSynchronize(s)
        if r != 0:
            print("error", r, flush=True)
            sys.exit(0 if r == 46 else 3)
        time.sleep(0.01)
    sys.exit(4)
"""


def case_sigkill_client(a, tmp):
    srv = Server(a.build, tmp, ["--insecure", "--heartbeat-ms", "200", "--session-timeout-ms", "1500"])
    try:
        base = stats(a.build, srv.endpoint)
        expect(base is not None and base["committed"] == 0, f"baseline {base}")
        p = subprocess.Popen([PY, "-c", HOLDER, "hold"], env=client_env(a.build, srv.endpoint),
                             stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        expect(line.strip() == "ready", "client allocated 64 MiB remotely")
        st = stats(a.build, srv.endpoint)
        expect(st["sessions"] == 1 and st["committed"] >= 64 << 20, f"server holds the client's memory: {st}")
        p.kill()
        p.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st = stats(a.build, srv.endpoint)
            if st and st["sessions"] == 0 and st["committed"] == base["committed"]:
                break
            time.sleep(0.2)
        expect(st["sessions"] == 0 and st["committed"] == base["committed"],
               f"after SIGKILL the server is back at its baseline: {st}")
        expect("reason=heartbeat_timeout" in srv.text(), "the session ended by heartbeat timeout")
    finally:
        srv.stop()


def case_server_death(a, tmp):
    srv = Server(a.build, tmp, ["--insecure", "--heartbeat-ms", "200"])
    p = subprocess.Popen([PY, "-c", HOLDER, "loop"],
                         env=client_env(a.build, srv.endpoint, extra={"CUVIRT_REMOTE_TIMEOUT_MS": "2000"}),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        expect(p.stdout.readline().strip() == "ready", "client running against the server")
        srv.proc.kill()
        srv.proc.wait()
        t0 = time.monotonic()
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            raise SystemExit("FAIL: the client hung after its server died")
        took = time.monotonic() - t0
        print(out, err[-2000:])
        expect(p.returncode == 0, f"client got CUDA_ERROR_DEVICE_UNAVAILABLE (exit {p.returncode}) after {took:.1f} s")
    finally:
        if p.poll() is None:
            p.kill()
        srv.stop()


def case_auth(a, tmp):
    cuvirtd = os.path.join(a.build, "tools", "cuvirtd")
    for name in ("server", "client", "rogue"):
        subprocess.run([cuvirtd, "keygen", os.path.join(tmp, name)], check=True, capture_output=True)
    expect(oct(os.stat(os.path.join(tmp, "client.key")).st_mode & 0o777) == "0o600", "key pair file is private")
    # --insecure beyond loopback is refused.
    rc, out, err = run([cuvirtd, "--listen", f"tcp://0.0.0.0:{free_port()}", "--insecure"], os.environ, 20)
    expect(rc != 0 and "loopback" in err, f"--insecure on 0.0.0.0 refused: {err.strip()}")
    rc, out, err = run([cuvirtd, "--listen", f"tcp://127.0.0.1:{free_port()}"], os.environ, 20)
    expect(rc != 0, "no key and no --insecure: refused")
    srv = Server(a.build, tmp, ["--key", os.path.join(tmp, "server.key"), "--allow-key",
                                os.path.join(tmp, "client.pub")])
    try:
        keys = {"CUVIRT_REMOTE_KEY": os.path.join(tmp, "client.key"),
                "CUVIRT_REMOTE_SERVER_KEY": os.path.join(tmp, "server.pub"),
                "CUVIRT_REMOTE_CONNECT_MS": "3000", "EXPECT_DEVICES": "1"}
        rc, out, err = run([PY, os.path.join(HERE, "smoke_ctypes.py")], client_env(a.build, srv.endpoint, extra=keys))
        print(out, err[-1000:])
        expect(rc == 0, "allowed client key: served over CURVE")
        rogue = dict(keys, CUVIRT_REMOTE_KEY=os.path.join(tmp, "rogue.key"))
        rc, out, err = run([PY, os.path.join(HERE, "smoke_ctypes.py")], client_env(a.build, srv.endpoint, extra=rogue), 60)
        expect(rc != 0 and "cuInit failed" in (out + err), f"unknown client key refused: {(out + err).strip()[-300:]}")
        plain = {"CUVIRT_REMOTE_CONNECT_MS": "3000"}
        rc, out, err = run([PY, os.path.join(HERE, "smoke_ctypes.py")], client_env(a.build, srv.endpoint, extra=plain), 60)
        expect(rc != 0, "plaintext client refused by a CURVE server")
        expect("event=auth_refused" in srv.text(), "the server logged the refusal")
        # Raw bytes beside zmq would bypass CURVE: no bulk socket with keys.
        expect("event=bulk_listen" not in srv.text(), "no bulk listener on a CURVE server")
    finally:
        srv.stop()


def case_probe(a, tmp):
    probe = os.path.join(a.build, "tests", "remote", "remote_probe")
    what = a.args[0]
    extra = ["--quota", str(16 << 20)] if what == "quota" else []
    srv = Server(a.build, tmp, ["--insecure"] + extra)
    try:
        if what == "corpus":
            cdir = os.path.join(tmp, "corpus")
            rc, out, err = run([probe, "gencorpus", cdir], os.environ, 60)
            expect(rc == 0, "corpus generated")
            files = sorted(os.path.join(cdir, f) for f in os.listdir(cdir))
            stored = os.path.join(HERE, "..", "fuzz", "corpus", "remote")
            if os.path.isdir(stored):
                files += sorted(os.path.join(stored, f) for f in os.listdir(stored))
            args = [probe, "corpus", srv.endpoint] + files
        elif what == "quota":
            args = [probe, "quota", srv.endpoint, str(16 << 20)]
        else:
            args = [probe, what, srv.endpoint]
        rc, out, err = run(args, os.environ, 120)
        print(out, err[-3000:])
        expect(rc == 0, f"probe {what}")
        if what == "corpus":
            st = stats(a.build, srv.endpoint)
            expect(st is not None and st["rejected"] > 0, f"the server counted rejected frames: {st}")
        expect(srv.proc.poll() is None, "the server is still running")
    finally:
        srv.stop()
    expect(srv.proc.returncode == 0 and "event=stopped" in srv.text(), "clean SIGTERM shutdown")


def case_kernel(a, tmp):
    s1 = Server(a.build, tmp, ["--insecure"], name="k1")
    s2 = Server(a.build, tmp, ["--insecure"], endpoint=f"ipc://{tmp}/k2.sock", name="k2")
    try:
        rc, out, err = run([PY, os.path.join(HERE, "kernel_ctypes.py")],
                           client_env(a.build, s1.endpoint + "," + s2.endpoint), 300)
        print(out, err[-3000:])
        if rc == SKIP:
            print("SKIP: " + out.strip())
            return SKIP
        expect(rc == 0, "a kernel on each of two servers' devices returns the right sums")
    finally:
        s1.stop()
        s2.stop()


def case_select(a, tmp):
    """CUVIRT_DEVICES=1 over two servers takes the least-loaded device."""
    s1 = Server(a.build, tmp, ["--insecure"], name="busy")
    s2 = Server(a.build, tmp, ["--insecure"], name="idle")
    procs = []
    try:
        busy = subprocess.Popen([PY, "-c", HOLDER, "hold"], env=client_env(a.build, s1.endpoint),
                                stdout=subprocess.PIPE, text=True)
        procs.append(busy)
        expect(busy.stdout.readline().strip() == "ready", "a client keeps the first server busy")
        both = s1.endpoint + "," + s2.endpoint
        picky = subprocess.Popen([PY, "-c", HOLDER, "hold"], env=client_env(a.build, both, extra={"CUVIRT_DEVICES": "1"}),
                                 stdout=subprocess.PIPE, text=True)
        procs.append(picky)
        expect(picky.stdout.readline().strip() == "ready", "a client asking for 1 of 2 devices runs")
        st1, st2 = stats(a.build, s1.endpoint), stats(a.build, s2.endpoint)
        expect(st2["committed"] >= 64 << 20 and st1["committed"] < 2 * (64 << 20) and st1["sessions"] == 1,
               f"its memory went to the idle server: busy {st1}, idle {st2}")
        # The pool includes local devices: the busy server against the idle
        # local CPU device, the remote one listed first.
        local = subprocess.Popen([PY, "-c", HOLDER, "hold"],
                                 env=client_env(a.build, s1.endpoint, "remote,cpu", {"CUVIRT_DEVICES": "1"}),
                                 stdout=subprocess.PIPE, text=True)
        procs.append(local)
        expect(local.stdout.readline().strip() == "ready", "a client asking for 1 of remote,cpu runs")
        time.sleep(0.3)
        st1 = stats(a.build, s1.endpoint)
        expect(st1["sessions"] == 1 and st1["committed"] < 2 * (64 << 20),
               f"it chose the local CPU device and left the busy server at once: {st1}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        s1.stop()
        s2.stop()


def case_peer(a, tmp):
    s1 = Server(a.build, tmp, ["--insecure"], name="p1")
    s2 = Server(a.build, tmp, ["--insecure"], endpoint=f"ipc://{tmp}/p2.sock", name="p2")
    try:
        rc, out, err = run([PY, os.path.join(HERE, "peer_ctypes.py")], client_env(a.build, s1.endpoint + "," + s2.endpoint))
        print(out, err[-3000:])
        expect(rc == 0, "stream order and copies across two servers")
    finally:
        s1.stop()
        s2.stop()


def case_config(a, tmp):
    """Endpoints, quota and name from a config file; tcp and ipc at once."""
    tcp, ipc = f"tcp://127.0.0.1:{free_port()}", f"ipc://{tmp}/cfg.sock"
    cfg = os.path.join(tmp, "cuvirtd.toml")
    with open(cfg, "w") as f:
        f.write(f'listen = ["{tcp}", "{ipc}"]\ninsecure = true\nquota = "16M"\nname = "configured"\n')
    log = open(os.path.join(tmp, "cfg.log"), "w")
    proc = subprocess.Popen([os.path.join(a.build, "tools", "cuvirtd"), "--config", cfg], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and open(log.name).read().count("event=listen") < 2:
            time.sleep(0.05)
        expect(open(log.name).read().count("event=listen") == 2, "both endpoints from the config file")
        probe = os.path.join(a.build, "tests", "remote", "remote_probe")
        rc, out, err = run([probe, "quota", ipc, str(16 << 20)], os.environ, 60)
        expect(rc == 0, f"the config file's quota holds on {ipc}: {out}{err}")
        rc, out, err = run([PY, os.path.join(HERE, "smoke_ctypes.py")], client_env(a.build, tcp, extra={"EXPECT_DEVICES": "1"}))
        expect(rc == 0, f"clients served on {tcp}: {out}{err[-500:]}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
        log.close()
    expect(proc.returncode == 0, "clean exit on SIGTERM")


def case_smi(a, tmp):
    srv = Server(a.build, tmp, ["--insecure"], name="smi-test")
    try:
        p = subprocess.Popen([PY, "-c", HOLDER, "hold"], env=client_env(a.build, srv.endpoint),
                             stdout=subprocess.PIPE, text=True)
        expect(p.stdout.readline().strip() == "ready", "a client holds memory")
        rc, out, err = run([os.path.join(a.build, "tools", "cuvirt-smi"), "--json", "--remote", srv.endpoint],
                           os.environ, 30)
        p.kill()
        p.wait()
        rows = json.loads(out)
        remote = [r for r in rows if r["server"] == srv.endpoint]
        expect(rc == 0 and len(rows) >= 2 and len(remote) == 1, f"local and remote devices listed: {out}")
        expect(remote[0]["sessions"] == 1 and remote[0]["memory_used"] >= 64 << 20, f"remote usage shown: {remote[0]}")
        rc, out, err = run([os.path.join(a.build, "tools", "cuvirt-smi"), "--remote", srv.endpoint], os.environ, 30)
        print(out)
        expect(rc == 0 and srv.endpoint in out, "table output")
    finally:
        srv.stop()


def case_bulk(a, tmp):
    """Synchronous reads take the bulk socket on plaintext tcp sessions, with
    the right bytes around the threshold and piece boundaries; tokens are
    checked; CUVIRT_REMOTE_BULK=0, --bulk off and ipc:// keep them on zmq."""
    probe = os.path.join(a.build, "tests", "remote", "remote_probe")
    script = os.path.join(HERE, "bulk_ctypes.py")
    srv = Server(a.build, tmp, ["--insecure"], name="bulk")
    off = Server(a.build, tmp, ["--insecure", "--bulk", "off"], name="bulk-off")
    ipc = Server(a.build, tmp, ["--insecure"], endpoint=f"ipc://{tmp}/bulk.sock", name="bulk-ipc")
    try:
        rc, out, err = run([probe, "bulk", srv.endpoint], os.environ, 60)
        print(out, err[-3000:])
        expect(rc == 0, "forged, foreign and used tokens refused; bulk bytes exact and in order")
        before = stats(a.build, srv.endpoint)["bulk"]
        rc, out, err = run([PY, script, "sizes"], client_env(a.build, srv.endpoint), 180)
        print(out, err[-3000:])
        expect(rc == 0, "reads of every size correct over the bulk socket, nothing written past them")
        want = int(out.split("bulk_candidate_bytes")[1].split()[0])
        got = stats(a.build, srv.endpoint)["bulk"] - before
        expect(got == want, f"every synchronous read >= the threshold went over the bulk socket: {got} of {want} bytes")
        rc, out, err = run([PY, script, "sizes"], client_env(a.build, srv.endpoint, extra={"CUVIRT_REMOTE_BULK": "0"}), 180)
        expect(rc == 0, f"CUVIRT_REMOTE_BULK=0: reads correct over zmq: {out}{err[-2000:]}")
        expect(stats(a.build, srv.endpoint)["bulk"] - before == want, "CUVIRT_REMOTE_BULK=0: no bulk bytes")
        for s, what in ((off, "--bulk off"), (ipc, "ipc://")):
            rc, out, err = run([PY, script, "sizes"], client_env(a.build, s.endpoint), 180)
            expect(rc == 0, f"{what}: reads correct over zmq: {out}{err[-2000:]}")
            expect(stats(a.build, s.endpoint)["bulk"] == 0, f"{what}: no bulk socket used")
        rc, out, err = run([probe, "bulk-off", off.endpoint], os.environ, 60)
        expect(rc == 0, f"--bulk off: no bulk socket offered: {out}{err[-1000:]}")
    finally:
        for s in (srv, off, ipc):
            s.stop()
    expect("event=bulk_refused" in srv.text() and "event=bulk_open" in srv.text(), "refusals and the accepted socket logged")
    expect("event=bulk_listen" not in off.text() + ipc.text(), "no bulk listener with --bulk off or on ipc://")


def case_bulk_death(a, tmp):
    """A server killed (SIGKILL) or frozen (SIGSTOP) in the middle of bulk
    reads: the client's copy fails with CUDA_ERROR_DEVICE_UNAVAILABLE within
    bounded time."""
    script = os.path.join(HERE, "bulk_ctypes.py")
    for how in ("kill", "stop"):
        srv = Server(a.build, tmp, ["--insecure"], name=f"bulk-{how}")
        p = subprocess.Popen([PY, script, "loop"],
                             env=client_env(a.build, srv.endpoint, extra={"CUVIRT_REMOTE_TIMEOUT_MS": "2000"}),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            expect(p.stdout.readline().strip() == "ready", f"{how}: client reading 64 MiB pieces")
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            t0 = time.monotonic()
            try:
                out, err = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                raise SystemExit(f"FAIL: {how}: the client hung in a bulk read")
            took = time.monotonic() - t0
            print(out, err[-1500:])
            expect(p.returncode == 0, f"{how}: CUDA_ERROR_DEVICE_UNAVAILABLE after {took:.1f} s (exit {p.returncode})")
            expect(took < 6, f"{how}: within the server timeout plus margin ({took:.1f} s; timeout 2 s)")
            if how == "kill":
                # The bulk socket's end says so at once, without the timeout.
                expect(took < 1.5, f"kill: noticed by the closed bulk socket ({took:.2f} s)")
        finally:
            if p.poll() is None:
                p.kill()
            if srv.proc.poll() is None:
                srv.proc.send_signal(signal.SIGCONT)
                srv.proc.kill()
                srv.proc.wait()
            srv.log.close()


def case_bulk_faults(a, tmp):
    """A server that breaks the bulk stream: a size that differs from the
    request gives CUDA_ERROR_INVALID_VALUE, a short read then a closed socket
    or a stall gives CUDA_ERROR_DEVICE_UNAVAILABLE in bounded time; never a
    write outside the destination (remote_probe fake)."""
    probe = os.path.join(a.build, "tests", "remote", "remote_probe")
    script = os.path.join(HERE, "bulk_ctypes.py")
    for mode, code in (("size", 1), ("short", 46), ("stall", 46)):
        ep = f"tcp://127.0.0.1:{free_port()}"
        fake = subprocess.Popen([probe, "fake", ep, mode, "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            expect(fake.stdout.readline().strip() == "listening", f"{mode}: fake server up")
            t0 = time.monotonic()
            rc, out, err = run([PY, script, "fault", str(code)],
                               client_env(a.build, ep, extra={"CUVIRT_REMOTE_TIMEOUT_MS": "2000"}), 60)
            took = time.monotonic() - t0
            print(out, err[-1500:])
            expect(rc == 0, f"{mode}: the read failed with {code} and wrote nothing outside its buffer ({took:.1f} s)")
            expect(took < 10, f"{mode}: within bounded time ({took:.1f} s, timeout 2 s)")
        finally:
            fake.kill()
            fake.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("case")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    cases = {"smoke": case_smoke, "program": case_program, "sigkill-client": case_sigkill_client,
             "server-death": case_server_death, "auth": case_auth, "probe": case_probe, "kernel": case_kernel,
             "smi": case_smi, "select": case_select, "peer": case_peer, "config": case_config,
             "bulk": case_bulk, "bulk-death": case_bulk_death, "bulk-faults": case_bulk_faults}
    tmp = tempfile.mkdtemp(prefix="cuvirt-remote-")
    try:
        rc = cases[a.case](a, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
