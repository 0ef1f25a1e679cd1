"""``python -m crypto_db ...``: run the ``crypto_db`` binary this wheel installed.

The binary sits in the environment's scripts directory (``bin/`` of a
virtualenv, or the user scheme's after ``pip install --user``). On POSIX the
process is replaced by it (``os.execv``), so Ctrl-C and SIGTERM reach the
server directly, as when it is run by name.
"""

import os
import sys
import sysconfig


def find_binary() -> str:
    name = "crypto_db" + (sysconfig.get_config_var("EXE") or "")
    schemes = [sysconfig.get_default_scheme()]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        schemes.append(user_scheme)
    for scheme in schemes:
        candidate = os.path.join(sysconfig.get_path("scripts", scheme=scheme), name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f"the {name} binary is not where pip installs it ({', '.join(schemes)} scripts); "
        "reinstall with: pip install --force-reinstall crypto-db"
    )


def main() -> None:
    binary = find_binary()
    args = [binary, *sys.argv[1:]]
    if sys.platform == "win32":
        import subprocess

        sys.exit(subprocess.call(args))
    os.execv(binary, args)


if __name__ == "__main__":
    main()
