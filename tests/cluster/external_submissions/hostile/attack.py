"""A hostile external submission: tries to escape the sandbox, reports every attempt.

targets.json (written by the test) holds host paths a participant could guess: the test
ground truth, a source image, the host's results folder, and a port the host listens on.
Each attempt prints one JSON line: {"attempt": ..., "allowed": bool, "error": ...}.
"""

import json
import os
import socket
import sys

targets = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "targets.json")))
output = sys.argv[1]


def attempt(name, action):
    try:
        detail = action()
        print(json.dumps({"attempt": name, "allowed": True, "detail": str(detail)[:200]}), flush=True)
    except BaseException as exc:  # noqa: BLE001 - every failure is the sandbox doing its job
        print(json.dumps({"attempt": name, "allowed": False, "error": f"{type(exc).__name__}: {exc}"[:300]}), flush=True)


def write(path):
    with open(path, "w") as fh:
        fh.write("pwned")
    return path


def connect(host, port):
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(b"pwned")
    return f"{host}:{port}"


attempt("read_ground_truth", lambda: open(targets["ground_truth"]).read(100))
attempt("read_source_dataset", lambda: open(targets["source_file"], "rb").read(100))
attempt("list_hidden_folder", lambda: os.listdir(targets["hidden_dir"]))
attempt("connect_host_loopback", lambda: connect("127.0.0.1", targets["port"]))
attempt("connect_internet", lambda: connect("1.1.1.1", 443))
attempt("resolve_dns", lambda: socket.getaddrinfo("pypi.org", 443))
attempt("write_repository", lambda: write("/submission/repo/pwned.txt"))
attempt("write_subset", lambda: write("/data/train/pwned.txt"))
attempt("write_root", lambda: write("/pwned.txt"))
attempt("write_host_results", lambda: write(os.path.join(targets["host_results"], "pwned.txt")))
attempt("allocate_beyond_memory_limit", lambda: len(bytearray(targets["allocate_mb"] * 1024 * 1024)))
attempt("signal_host_process", lambda: os.kill(targets["host_pid"], 0))
# The one thing it may do: write into its own output folder.
attempt("write_output", lambda: write(os.path.join(output, "report.txt")))
