#!/usr/bin/env python3
"""Print the _Static_asserts of test_abi_layout.c for the current headers.

The asserts pin the ABI: they are written once, reviewed, and committed. When
a minor version appends members, run this and check that `diff` against the
committed file shows ONLY added lines; a changed or removed line is an ABI
break. Usage: gen_layout.py SRCDIR CC > layout.inc (x86_64 / LP64 only).
"""
import os, re, subprocess, sys, tempfile

src, cc = sys.argv[1], sys.argv[2]
structs = []  # (type expression, [members])
for h in sorted(os.listdir(os.path.join(src, "include/caracal"))):
    text = open(os.path.join(src, "include/caracal", h)).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"^\s*#[^\n]*", "", text, flags=re.M)
    text = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", text)
    for m in re.finditer(r"(typedef\s+)?struct\s+(\w+)\s*\{(.*?)\}\s*(\w*)\s*;", text, re.S):
        tag, body, tname = m.group(2), m.group(3), m.group(4)
        typ = tname if tname else "struct " + tag
        members = []
        for decl in body.split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            f = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
            if f:
                members.append(f.group(1))
            else:
                members.append(re.search(r"(\w+)\s*(\[[^\]]*\])?$", decl).group(1))
        structs.append((typ, members))

prog = ["#include <stdio.h>", "#include <caracal/plugin.h>", "int main(void) {"]
for typ, members in structs:
    prog.append('printf("\\n/* %s */\\n");' % typ)
    prog.append('printf("SIZE(%s, %%zu);\\n", sizeof(%s));' % (typ, typ))
    for mem in members:
        prog.append('printf("OFF(%s, %s, %%zu);\\n", offsetof(%s, %s));' % (typ, mem, typ, mem))
prog.append("return 0; }")
with tempfile.TemporaryDirectory() as d:
    c = os.path.join(d, "g.c")
    open(c, "w").write("\n".join(prog))
    subprocess.check_call([cc, "-I" + os.path.join(src, "include"), "-o", os.path.join(d, "g"), c])
    sys.stdout.write(subprocess.check_output([os.path.join(d, "g")]).decode())
