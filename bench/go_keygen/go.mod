module sectigo-operator/bench/go_keygen

go 1.26
