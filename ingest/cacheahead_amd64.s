#include "textflag.h"

// func cacheAhead(p *byte)
TEXT ·cacheAhead(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	PREFETCHT0 (AX)
	RET
