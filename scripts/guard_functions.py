#!/usr/bin/env python3
"""Turn entry points into guarded ones (src/grants.c): the function's
definition becomes courier._NAME (its body, unchanged but for the
NAME.param qualifiers), followed by courier.NAME in C (courier_guarded).
Usage: guard_functions.py FILE NAME...   (idempotent)"""
import re, sys

def guard(text, name):
    if re.search(r"FUNCTION courier\._%s\(" % re.escape(name), text):
        return text  # done already
    m = re.search(r"^CREATE (OR REPLACE )?FUNCTION courier\.%s\(" % re.escape(name), text, re.M)
    if not m:
        sys.exit("no definition of courier.%s" % name)
    start = m.start()
    # the end of the definition: the line closing the $$ body, or for a C
    # function the first line ending with ';'
    pos, dollars = m.end(), 0
    while True:
        eol = text.index("\n", pos)
        line = text[pos:eol]
        dollars += line.count("$$")
        if line.rstrip().endswith(";") and dollars in (0, 2):
            end = eol + 1
            break
        pos = eol + 1
    definition = text[start:end]
    # the argument list (balanced parentheses) and the RETURNS clause
    depth, i = 0, definition.index("(")
    for j in range(i, len(definition)):
        if definition[j] == "(":
            depth += 1
        elif definition[j] == ")":
            depth -= 1
            if depth == 0:
                break
    args = definition[i:j + 1]
    rm = re.search(r"\n(RETURNS [^\n]*)\n", definition[j:])
    returns = rm.group(1)
    body = re.sub(r"^CREATE (OR REPLACE )?FUNCTION courier\.%s\(" % re.escape(name),
                  "CREATE FUNCTION courier._%s(" % name, definition)
    # qualifiers NAME.param inside the body refer to the function's name
    body = re.sub(r"(?<![\w.])%s\." % re.escape(name), "_%s." % name, body)
    wrapper = ("-- the entry point: courier grants (src/grants.c), then the body above\n"
               "%sFUNCTION courier.%s%s\n%s\nAS 'MODULE_PATHNAME', 'courier_guarded'\n"
               "LANGUAGE C VOLATILE;\n" % ("CREATE " + (m.group(1) or ""), name, args, returns))
    return text[:start] + body + wrapper + text[end:]

path = sys.argv[1]
text = open(path).read()
for name in sys.argv[2:]:
    text = guard(text, name)
open(path, "w").write(text)
