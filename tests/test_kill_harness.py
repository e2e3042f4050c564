"""The kill -9 harness itself (kill_harness.py): every line the killed writer printed reaches
the model of acknowledged calls, also when the parent runs late and its first readline takes
more than the first line into the stream's buffer (a loaded machine). Before, the rest was
read with communicate(), which reads the pipe's descriptor and never sees that buffer: a slow
kill test once failed with an acknowledged insert "extra" (its "begin" and an "ack" lost)."""

from __future__ import annotations

import json

from kill_harness import kill_writer, replay

CALLS = [{"op": "insert", "ids": [0, 1, 2], "ver": 1}, {"op": "insert", "ids": [3, 4], "ver": 2},
         {"op": "delete", "ids": [1]}, {"op": "insert", "ids": [5], "ver": 4}]


def test_lines_the_first_readline_took_ahead_are_kept(tmp_path):
    printed = "".join(f"begin {json.dumps(c)}\nack\n" for c in CALLS) + "begin " + json.dumps(CALLS[0])[:9]
    assert len(printed) < 4096   # one write below PIPE_BUF: the parent's first read gets all of it
    writer = tmp_path / "writer.py"
    writer.write_text(f"import sys, time\nsys.stdout.write({printed!r})\nsys.stdout.flush()\n"
                      "time.sleep(60)\n")
    lines, killed, _ = kill_writer([str(writer)], 0.2)
    assert killed
    assert lines == printed.split("\n")
    model, pending, acked = replay({}, lines)
    assert acked == len(CALLS) and pending is None   # the torn last "begin": never started
    assert model == {0: 1, 2: 1, 3: 2, 4: 2, 5: 4}


def test_the_writer_s_stderr_still_comes_back(tmp_path):
    writer = tmp_path / "writer.py"
    writer.write_text("import sys, time\nprint('begin {}', flush=True)\n"
                      "sys.stderr.write('x' * 100000)\nsys.stderr.flush()\ntime.sleep(60)\n")
    lines, killed, err = kill_writer([str(writer)], 1.0)   # blocked on a full stderr pipe
    assert killed and lines == ["begin {}"]
    assert err and set(err) == {"x"}   # what the pipe held when it was killed
