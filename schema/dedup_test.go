package schema

import "testing"

func TestLineSet(t *testing.T) {
	var s lineSet
	// Hashes that share their low bits probe the same slots; 0 is a valid hash.
	for i := 0; i < 20000; i++ {
		h := uint64(i) << 40
		if first, dup := s.firstOrAdd(h, i+2); dup || first != i+2 {
			t.Fatalf("hash %d: first %d dup %v", i, first, dup)
		}
	}
	for i := 0; i < 20000; i++ {
		if first, dup := s.firstOrAdd(uint64(i)<<40, 99); !dup || first != i+2 {
			t.Fatalf("hash %d again: first %d dup %v", i, first, dup)
		}
	}
	if s.n != 20000 || 3*s.len() < 4*s.n {
		t.Fatalf("n %d, %d slots", s.n, s.len())
	}
}

func TestLineSetSizeFor(t *testing.T) {
	var s lineSet
	s.firstOrAdd(42, 7)
	s.sizeFor(100_000)
	if s.len() != 1<<18 { // 100,000 is over 3/4 of 1<<17
		t.Fatalf("%d slots", s.len())
	}
	if first, dup := s.firstOrAdd(42, 9); !dup || first != 7 {
		t.Fatal("entry lost when resizing")
	}
}
