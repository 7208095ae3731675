"""A structural check of cached object code before it is linked.

An entry whose header and digest are consistent can still hold bytes that are not object code (a
bug, or a file written by hand): linking it failed on every call ("Invalid ELF class", or LLVM
aborting the process) and the entry was never removed; llvmlite's own object parser crashes on
such bytes. `elf_ok` checks what a linker trusts first (ELF64, little endian, relocatable, this
host's machine, a section table inside the file, a symbol table and the string tables sections
point to), so the store drops such an entry and the kernel is rebuilt. Other formats (Mach-O,
COFF) are not checked.
"""

from __future__ import annotations

import platform
import struct

_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183}  # ELF e_machine
_SECTION = struct.Struct("<IIQQQQIIQQ")  # name type flags addr offset size link info align entsize
_SYMTAB, _STRTAB, _RELA, _NOBITS = 2, 3, 4, 8


def elf_ok(data: bytes) -> bool:
    """False when `data` starts like ELF but is not a well-formed relocatable object for this
    host; True for well-formed ELF objects and for anything that is not ELF at all."""
    if data[:4] != b"\x7fELF":
        return not data.startswith(b"\x7fEL")  # a cut magic is corrupt; other formats pass
    if len(data) < 64 or data[4:7] != b"\x02\x01\x01":  # ELFCLASS64, little endian, version 1
        return False
    e_type, e_machine, e_version = struct.unpack_from("<HHI", data, 16)
    want = _MACHINES.get(platform.machine().lower())
    if e_type != 1 or e_version != 1 or (want is not None and e_machine != want):
        return False
    (shoff,) = struct.unpack_from("<Q", data, 40)
    ehsize, _, _, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHHH", data, 52)
    if ehsize != 64 or shentsize != _SECTION.size or shnum == 0 or shstrndx >= shnum:
        return False
    if shoff + shnum * _SECTION.size > len(data):
        return False
    sections = [_SECTION.unpack_from(data, shoff + i * _SECTION.size) for i in range(shnum)]
    types = [s[1] for s in sections]
    if types[0] != 0 or types[shstrndx] != _STRTAB or _SYMTAB not in types:
        return False
    for _, sh_type, _, _, offset, size, link, info, _, entsize in sections[1:]:
        if sh_type == 0 or (sh_type > 19 and sh_type < 0x60000000):
            return False  # a null or unknown section after the first
        if sh_type != _NOBITS and offset + size > len(data):
            return False
        if sh_type == _SYMTAB and (entsize != 24 or size % 24 or types[link] != _STRTAB):
            return False
        if sh_type == _RELA and (entsize != 24 or size % 24 or link >= shnum or info >= shnum):
            return False
    return True
