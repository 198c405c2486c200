// Command go_keygen measures the CPU Go's crypto/rsa spends on one RSA-2048 key, the key
// cert-manager's controller generates for each certificate in the side-by-side burst (built with
// the same Go toolchain). It is the counterpart of `python bench/bench_pki.py`, which measures
// the operator's (cryptography's OpenSSL). Run: `cd bench/go_keygen && go run . [keys]`.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// cpuMillis is the process's user and system CPU so far, in milliseconds.
func cpuMillis() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		panic(err)
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e6
}

func main() {
	keys := 60
	if len(os.Args) > 1 {
		n, err := strconv.Atoi(os.Args[1])
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "usage: go run . [keys]")
			os.Exit(2)
		}
		keys = n
	}
	start := cpuMillis()
	for i := 0; i < keys; i++ {
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	}
	fmt.Printf("%s crypto/rsa: RSA-2048 key generation %.1f ms of CPU per key (mean of %d keys, one goroutine)\n",
		runtime.Version(), (cpuMillis()-start)/float64(keys), keys)
}
