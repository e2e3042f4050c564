"""qa_kill_writer.py with write log segments of EMBEDB_QA4_SEGMENT bytes (a few KB: a segment
rotation at nearly every call, and segment deletions after each background checkpoint).

usage: qa4_wlog_writer.py PATH SEGMENT_BYTES DURABILITY SEED NEXT_ID [PAUSE]
"""

import runpy
import sys
from pathlib import Path

import embedb.engine.writelog as writelog

writelog.SEGMENT_BYTES = int(sys.argv[2])
sys.argv = [sys.argv[0], sys.argv[1], *sys.argv[3:]]
runpy.run_path(str(Path(__file__).with_name("qa_kill_writer.py")), run_name="__main__")
