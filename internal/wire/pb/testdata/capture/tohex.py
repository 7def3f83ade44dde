import sys
# Converts `tshark -q -z follow,tcp,raw,0` output into the testdata format:
# "> hex" for master-to-worker segments, "< hex" for worker-to-master.
started=False
print("# " + sys.argv[2])
print("# '>' master to worker, '<' worker to master; one TCP segment per line, hex.")
for line in open(sys.argv[1]):
    if line.startswith('Node 1'): started=True; continue
    if not started or line.startswith('='): continue
    s=line.rstrip('\n')
    if not s.strip(): continue
    print(('> ' if s.startswith('\t') else '< ') + s.strip())
