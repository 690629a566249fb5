package localrun

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// PortHolders names every socket on TCP port on this machine, with its state and the
// process that has it open, read from /proc (Linux; elsewhere it says it found none). A port
// found in use then says by whom: `make run` names the program in the way, and a test's
// failed bind names its binder (TestFreePort failed once in a fresh-clone `make test`,
// 2026-12-04, "bind: address already in use" right after FreePort found the port free;
// nothing has shown the binder since). It names the program, not its arguments, which may
// hold a secret; processes of other users show without a name.
func PortHolders(port int) string {
	states := map[string]string{"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN"}
	inodes := map[string]string{} // socket inode → "addr state"
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			_, hexPort, _ := strings.Cut(f[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err != nil || int(p) != port {
				continue
			}
			st := states[f[3]]
			if st == "" {
				st = "state " + f[3]
			}
			inodes[f[9]] = f[1] + " " + st
		}
	}
	if len(inodes) == 0 {
		return fmt.Sprintf("no socket on port %d in /proc/net/tcp{,6} now", port)
	}
	owners := map[string][]string{}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		ino := strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")
		if _, ok := inodes[ino]; !ok {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		// The program only (argv[0]), never its arguments: those may carry a secret.
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		prog, _, _ := strings.Cut(string(cmd), "\x00")
		owners[ino] = append(owners[ino], "pid "+pid+" "+prog)
	}
	var out []string
	for ino, s := range inodes {
		who := strings.Join(owners[ino], "; ")
		if who == "" {
			who = "no process (kernel-held or gone)"
		}
		out = append(out, s+" held by "+who)
	}
	slices.Sort(out) // the same sockets read the same way each time
	return strings.Join(out, " | ")
}
