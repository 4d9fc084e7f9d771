//go:build !unix

package main

// writable reports whether this process may create entries in dir; where
// there is no access(2), making the folder at start says so.
func writable(string) bool { return true }
