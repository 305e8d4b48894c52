# Runs a command and prints, as the last line of stderr, its wall time and the peak resident set
# size of its largest process (getrusage of the children), so ours and dvc are measured the same way.
import json
import resource
import subprocess
import sys
import time

start = time.perf_counter()
code = subprocess.run(sys.argv[1:]).returncode
seconds = time.perf_counter() - start
rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write("\nMEASURE " + json.dumps({"seconds": seconds, "rss_kib": rss_kib, "code": code}) + "\n")
sys.exit(code)
