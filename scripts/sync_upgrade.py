#!/usr/bin/env python3
"""Regenerate the copied sections of sql/pg_courier--0.1--0.2.sql from sql/parts.
Sections start with a line '-- <title> (sql/parts/NN_name.sql)' at column 0 preceded by a blank line
and followed by a blank line; the section runs to the next such header or to the final
'-- Nothing new is callable by PUBLIC either.' block.  New parts listed in COPIED but absent get appended."""
import re, sys, os
os.chdir(sys.argv[1] if len(sys.argv) > 1 else '.')
up = 'sql/pg_courier--0.1--0.2.sql'
s = open(up).read()
tail_marker = '-- Nothing new is callable by PUBLIC either.'
ti = s.index(tail_marker)
body, tail = s[:ti], s[ti:]
hdr = re.compile(r'^-- ([^\n]*) \((sql/parts/(\d\d)_[a-z_]+\.sql)\)\n\n', re.M)
heads = [m for m in hdr.finditer(body) if int(m.group(3)) >= 75 and (m.start() == 0 or body[m.start()-2:m.start()] == '\n\n')]
# only section headers whose previous line is blank and next is blank
first = heads[0].start()
prefix = body[:first]
titles = {m.group(2): m.group(1) for m in heads}
copied = sorted(set(titles) | set(a for a in sys.argv[2:]))
out = prefix
for p in copied:
    t = titles.get(p, os.path.basename(p)[3:-4].replace('_', ' '))
    out += '-- %s (%s)\n\n' % (t, p) + open(p).read().rstrip('\n') + '\n\n'
open(up, 'w').write(out + tail)
print('sections:', ', '.join(copied))
