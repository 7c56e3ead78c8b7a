#!/usr/bin/env python3
# Hard links, differentially: the same random sequence of create, link, unlink, rename, append,
# chmod, open, close and pwrite-through-a-handle on names in two directories (a mount and a plain
# directory), and after every step each name's (nlink, size, mode, bytes) and each open handle's
# fstat (nlink, size) and bytes compared. Stops at the first difference and prints it.
# Written for the JS-ops node table keyed by ino (docs/CONFORMANCE.md, "The author path"):
#   RAMFS_HOME=$(mktemp -d) node dist-examples/ramfs/cli.js mount r --at $RAMFS_HOME/mnt
#   mkdir -p /tmp/plain; python3 scripts/conformance/links-diff.py $RAMFS_HOME/mnt/x /tmp/plain/x 3000 1
#   (args: mount dir, plain dir, steps, seed; both dirs are made, and should be new)
import os, random, sys, errno
A, B, N, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)
names = [f"f{i}" for i in range(8)] + [f"d/g{i}" for i in range(4)]
for root in (A, B): os.makedirs(os.path.join(root, "d"), exist_ok=True)
fds = {A: {}, B: {}}
def do(root, op, x, y, data, mode):
    p, q = os.path.join(root, x), os.path.join(root, y)
    try:
        if op == "create": fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644); os.write(fd, data); os.close(fd)
        elif op == "link": os.link(p, q)
        elif op == "unlink": os.unlink(p)
        elif op == "rename": os.rename(p, q)
        elif op == "write": fd = os.open(p, os.O_WRONLY | os.O_APPEND); os.write(fd, data); os.close(fd)
        elif op == "chmod": os.chmod(p, mode)
        elif op == "open": fds[root].setdefault(x, []).append(os.open(p, os.O_RDWR))
        elif op == "close":
            l = fds[root].get(x) or []
            if l: os.close(l.pop())
        elif op == "fwrite":
            l = fds[root].get(x) or []
            if l: os.pwrite(l[-1], data, 0)
        return "ok"
    except OSError as e: return errno.errorcode[e.errno]
def view(root):
    out = {}
    for n in names:
        p = os.path.join(root, n)
        try:
            st = os.lstat(p); out[n] = (st.st_nlink, st.st_size, st.st_mode & 0o7777, open(p, "rb").read())
        except OSError as e: out[n] = errno.errorcode[e.errno]
    fv = []
    for x in sorted(fds[root]):
        for fd in fds[root][x]:
            st = os.fstat(fd); fv.append((x, st.st_nlink, st.st_size, os.pread(fd, 1 << 16, 0)))
    return out, fv
for i in range(N):
    op = rnd.choice(["create", "link", "link", "unlink", "rename", "rename", "write", "chmod", "open", "close", "fwrite"])
    x, y = rnd.choice(names), rnd.choice(names)
    data = bytes([65 + rnd.randrange(26)]) * rnd.randrange(1, 5); mode = rnd.choice([0o600, 0o644, 0o640])
    ra, rb = do(A, op, x, y, data, mode), do(B, op, x, y, data, mode)
    if ra != rb: print(f"#{i} {op} {x} {y}: mount {ra}, plain {rb}"); sys.exit(1)
    va, vb = view(A), view(B)
    if va != vb:
        print(f"#{i} {op} {x} {y}:"); [print(" ", k, va[0].get(k), vb[0].get(k)) for k in names if va[0].get(k) != vb[0].get(k)]; print(" fds", va[1], vb[1]); sys.exit(1)
print(f"{N} ops, every view the same")
