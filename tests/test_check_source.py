#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_check_source.py - tests/check_source.py's function-length rule (rule 4) on small trees.

The rule guards the front ends (issue 13, phase B): a function of milter/, policyd/,
tokend/, ctl/ or sasl/ longer than 80 lines between its braces is a finding; a long table
is not a function, and the library folders are not front ends.  Each check writes a tree
in a temporary directory and runs the script on it as make check does.

Prints one PASS/FAIL line per check, then "N passed, M failed"; exit 0 when all pass, 1
otherwise.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "check_source.py")
results = []


def check(name, ok, detail=""):
    """check - record and print one result"""
    results.append(ok)
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + detail))


def function(name, lines):
    """function - a C function with that many lines between its braces"""
    return f"int {name}(int a)\n{{\n" + "    a++;\n" * lines + "}\n"


def run(files):
    """run - check_source.py on a tree of files {path: text}; (exit status, output)"""
    with tempfile.TemporaryDirectory() as root:
        folders = sorted({p.split("/")[0] + "/" for p in files})
        with open(os.path.join(root, "table.txt"), "w", encoding="utf-8") as f:
            f.write("".join(d + "\n" for d in folders))
        for p, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(p)), exist_ok=True)
            with open(os.path.join(root, p), "w", encoding="utf-8") as f:
                f.write(text)
        r = subprocess.run([sys.executable, SCRIPT, "--root", root, "--table",
                            os.path.join(root, "table.txt")],
                           capture_output=True, text=True, check=False)
        return r.returncode, r.stdout


rc, out = run({"milter/a.c": function("long_one", 81)})
check("an 81-line function of milter/ is a finding", rc == 1 and "long_one() is 81 lines" in out,
      out)
for front in ("policyd", "tokend", "ctl", "sasl"):
    rc, out = run({f"{front}/a.c": function("f", 95)})
    check(f"{front}/ is a front end too", rc == 1 and "f() is 95 lines" in out, out)
rc, out = run({"milter/a.c": function("just_fits", 80)})
check("80 lines pass", rc == 0, out)
table = "static const int t[] = {\n" + "    1,\n" * 120 + "};\n"
rc, out = run({"ctl/a.c": table + "struct s {\n" + "    int a;\n" * 90 + "};\n"})
check("a long table or struct is no function", rc == 0, out)
rc, out = run({"policy/a.c": function("engine", 120), "lib/b.c": function("util", 120)})
check("library folders are not held to it", rc == 0, out)
rc, out = run({"ctl/a.c": "/* { */\n" + function("commented", 40) +
               '#define BRACE "{"\nconst char *s = "}";\n' + function("after", 40)})
check("braces in comments, strings and #defines do not count", rc == 0, out)
rc, out = run({"ctl/a.c": "static int\nsplit_decl(const char *s,\n           int n)\n{\n" +
               "    n++;\n" * 85 + "}\n"})
check("a definition over several lines is named and counted",
      rc == 1 and "ctl/a.c:4: split_decl() is 85 lines" in out, out)
print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
sys.exit(0 if all(results) else 1)
