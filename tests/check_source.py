#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""check_source.py - the tree's C sources against four rules (issue 13), run by make check:

1. no banned function (BANNED below, with the reason each is printed with);
2. every quoted #include follows the layering table tests/layering.txt (which folder
   may include which, and which system headers a folder must not include);
3. no include cycle between files;
4. no function of a front end (FRONT_ENDS) longer than MAX_FUNC_LINES lines between its
   braces: the front ends stay thin, and a reader of one does not get lost.

Comments and string literals are blanked before calls are looked for.  A quoted include
is resolved as the compiler's -I list does here: the including file's folder first, then
the one header of the tree with that name (two headers of one name are an error: the -I
order would decide).  config.h is generated and skipped.

    SRCDIR=. tests/check_source.py          # exit 0 clean, 1 with one line per finding
    tests/check_source.py --table T --root DIR
"""
import argparse
import os
import re
import sys

# name -> why it is banned (style.md: no sprintf/strcpy/strcat/strncat/gets)
BANNED = {
    "sprintf": "unbounded: snprintf and check the result",
    "vsprintf": "unbounded: vsnprintf and check the result",
    "strcpy": "unbounded: memcpy with a known length, or snprintf",
    "stpcpy": "unbounded: memcpy with a known length",
    "strcat": "unbounded: buf_* (policy/buf.h) or snprintf",
    "strncat": "its bound is the space left, easy to get wrong: buf_* or snprintf",
    "strncpy": "leaves the copy unterminated at the bound: memcpy or snprintf",
    "gets": "unbounded: fgets or getline",
    "strtok": "keeps state across calls, unsafe in the milter's threads: strtok_r or strsep",
    "atoi": "no error report: strtol/strtoul with an end pointer and errno",
    "atol": "no error report: strtol with an end pointer and errno",
    "atoll": "no error report: strtoll with an end pointer and errno",
    "atof": "no error report: strtod with an end pointer and errno",
    "tmpnam": "racy: mkstemp",
    "mktemp": "racy: mkstemp or mkdtemp",
}

# the thin front ends, whose functions stay short (rule 4)
FRONT_ENDS = ("milter/", "policyd/", "tokend/", "ctl/", "sasl/")
MAX_FUNC_LINES = 80

# top-level folders that hold build products, never sources
SKIP_TOP = re.compile(r"^(\..*|build.*|_build|_inst|autom4te\.cache|sendas-.*|debian)$")
GENERATED = {"config.h"}

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)
CALL = re.compile(r"(?<![\w.>$])(" + "|".join(sorted(BANNED, key=len, reverse=True)) + r")\s*\(")


def strip_c(text):
    """strip_c - comments and string/char literals as blanks, newlines kept (line numbers stay)"""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(code):
    """functions - (name, line of its opening brace, lines between its braces) for each
    function definition of code (comments and literals already blanked): a brace at file
    level that follows a closing parenthesis"""
    code = re.sub(r"(?m)^[ \t]*#.*(?:\\\n.*)*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), code)
    found, depth, start = [], 0, None
    for i, c in enumerate(code):
        if c == "{":
            if depth == 0:
                start = None
                j = len(code[:i].rstrip()) - 1
                if j >= 0 and code[j] == ")":
                    k, d = j, 0
                    while k >= 0:  # back to the parenthesis that opens the parameters
                        d += {")": 1, "(": -1}.get(code[k], 0)
                        if d == 0:
                            break
                        k -= 1
                    m = re.search(r"(\w+)\s*$", code[:max(k, 0)])
                    start = (m.group(1) if m else "?", code.count("\n", 0, i) + 1)
            depth += 1
        elif c == "}" and depth > 0:
            depth -= 1
            if depth == 0 and start:
                end = code.count("\n", 0, i) + 1
                found.append((start[0], start[1], end - start[1] - 1))
                start = None
    return found


def read_table(path):
    """read_table - {folder: (allowed folders/files, denied system header prefixes)}"""
    table, entry = {}, None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].rstrip()
            if not line:
                continue
            words = line.split()
            if not raw[0].isspace():
                folder = words.pop(0)
                if not folder.endswith("/"):
                    sys.exit(f"{path}:{lineno}: a folder ends in /: {folder}")
                if folder in table:
                    sys.exit(f"{path}:{lineno}: {folder} twice")
                entry = table[folder] = (set(), set())
            elif entry is None:
                sys.exit(f"{path}:{lineno}: a continuation line before any folder")
            for w in words:
                if w.startswith("!<"):
                    entry[1].add(w[1:])
                else:
                    entry[0].add(w)
    return table


def sources(root):
    """sources - the tree's *.c and *.h, as paths relative to root"""
    found = []
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel == ".":
            dirs[:] = [x for x in dirs if not SKIP_TOP.match(x)]
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if f.endswith((".c", ".h")) and f not in GENERATED:
                found.append(os.path.normpath(os.path.join(rel, f)))
    return found


def rule_for(table, path):
    """rule_for - the longest table folder that holds path, or None"""
    best = None
    for folder in table:
        if path.startswith(folder) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def allowed(table, folder, target):
    """allowed - may files of folder include the tree file target?"""
    if rule_for(table, target) == folder or target.startswith(folder):
        return True
    for a in table[folder][0]:
        if a == "*" or (a.endswith("/") and target.startswith(a)) or a == target:
            return True
    return False


def check(root, table_path):
    """check - the findings, one line each, and the figures of the summary line"""
    table = read_table(table_path)
    files = sources(root)
    by_name = {}
    for p in files:
        if p.endswith(".h"):
            by_name.setdefault(os.path.basename(p), []).append(p)
    findings, graph = [], {}
    n_inc = n_tree = 0
    for p in files:
        folder = rule_for(table, p)
        if folder is None:
            findings.append(f"{p}: its folder has no line in {table_path}")
            continue
        with open(os.path.join(root, p), encoding="utf-8", errors="replace") as f:
            text = f.read()
        code = strip_c(text)
        for m in CALL.finditer(code):
            line = code.count("\n", 0, m.start()) + 1
            findings.append(f"{p}:{line}: {m.group(1)}() is banned: {BANNED[m.group(1)]}")
        if p.startswith(FRONT_ENDS):
            for name, line, n in functions(code):
                if n > MAX_FUNC_LINES:
                    findings.append(f"{p}:{line}: {name}() is {n} lines, a front end's function "
                                    f"has at most {MAX_FUNC_LINES}: split it where a reader "
                                    f"would get lost")
        graph[p] = []
        for m in INCLUDE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            # an include inside a comment is not one
            if not code[m.start():m.end()].lstrip().startswith("#"):
                continue
            kind, name = m.group(1), m.group(2)
            n_inc += 1
            if kind == "<":
                for deny in table[folder][1]:
                    if ("<" + name + ">").startswith(deny):
                        findings.append(f"{p}:{line}: <{name}> is not for {folder} "
                                        f"(!{deny} in {table_path})")
                continue
            if name in GENERATED:
                continue
            here = os.path.normpath(os.path.join(os.path.dirname(p), name))
            if here in files:
                target = here
            elif name.count("/") and os.path.normpath(name) in files:
                target = os.path.normpath(name)
            else:
                cands = by_name.get(os.path.basename(name), [])
                if len(cands) != 1:
                    what = "no such header in the tree" if not cands else \
                        "ambiguous: " + ", ".join(cands)
                    findings.append(f'{p}:{line}: "{name}": {what}')
                    continue
                target = cands[0]
            n_tree += 1
            graph[p].append((target, line))
            if not allowed(table, folder, target):
                may = " ".join(sorted(table[folder][0])) or "its own folder only"
                findings.append(f'{p}:{line}: includes {target}: {folder} may include {may} '
                                f'({table_path})')
    findings.extend(cycles(graph))
    return findings, len(files), n_inc, n_tree


def cycles(graph):
    """cycles - one finding per include cycle (depth-first search, each cycle once)"""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for target, line in graph.get(node, []):
            if state.get(target) == 1:
                loop = stack[stack.index(target):] + [target]
                found.append(f"{node}:{line}: include cycle: " + " -> ".join(loop))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main():
    """main - check the tree; exit 1 on any finding"""
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.environ.get("SRCDIR") or os.path.dirname(here))
    ap.add_argument("--table", default=None)
    args = ap.parse_args()
    table = args.table or os.path.join(args.root, "tests", "layering.txt")
    findings, n_files, n_inc, n_tree = check(args.root, table)
    findings = [f.replace(table, os.path.relpath(table, args.root)) for f in findings]
    for f in findings:
        print(f)
    print(f"check_source: {n_files} files, {n_inc} includes ({n_tree} of the tree), "
          f"{len(BANNED)} banned functions, front-end functions <= {MAX_FUNC_LINES} lines: "
          f"{len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
