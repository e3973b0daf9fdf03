package storage

func crashChild(path string) {}
func lockChild(path string)  {}
