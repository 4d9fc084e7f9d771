// Package gen writes deterministic, realistic HR exports of any size, for
// benchmarks and load tests: a 16-column Workday-style CSV of Rows people
// (Day 0), and its next-day version (Day 1) in which exactly 1% of the
// people changed, 0.5% left and 0.5% joined (2% churn; Options.Churn sets
// another). The output depends only on the Options: it is the same on
// every run and machine.
package gen

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// Options say what to write.
type Options struct {
	// Rows is the number of people on day 0 (and, since as many join as
	// leave, on day 1).
	Rows int
	// Seed picks the people; the same seed writes the same file.
	Seed int
	// Day is 0 for the first export and 1 for the next day's.
	Day int
	// Churn is the share of people, in percent, Day 1 touches: half of it
	// changed, a quarter left and a quarter joined. 0 is 2 (1% changed,
	// 0.5% left, 0.5% joined).
	Churn float64
	// CRLF ends lines with CR LF instead of LF: the same records in other
	// bytes, as another tool would export them (not a duplicate file).
	CRLF bool
}

// Header is the header row the generator writes.
var Header = []string{
	"Employee_ID", "First_Name", "Last_Name", "Work_Email", "Worker_Status", "Department",
	"Division", "Cost_Center", "Groups", "Business_Title", "Manager_Email", "Hire_Date",
	"Worker_Type", "Preferred_Language", "City", "Country",
}

// Changes counts what Day 1 changes relative to Day 0 for rows people.
type Changes struct {
	Changed, Removed, Added int
}

// ChangesFor returns how many people Day 1 changes, removes and adds:
// 1%, 0.5% and 0.5% of rows, rounded down.
func ChangesFor(rows int) Changes {
	return Changes{Changed: rows / 100, Removed: rows / 200, Added: rows / 200}
}

// ChangesOf returns how many people Day 1 of o changes, removes and adds.
func ChangesOf(o Options) Changes {
	if o.Churn == 0 {
		return ChangesFor(o.Rows)
	}
	quarter := int(float64(o.Rows) * o.Churn / 400)
	return Changes{Changed: int(float64(o.Rows) * o.Churn / 200), Removed: quarter, Added: quarter}
}

// Person is one generated person, as written on a given day.
type Person struct {
	Index int // 0-based; Day 1's new joiners come after Rows-1
	Email string
	// Changed and Removed say what Day 1 does to a Day 0 person.
	Changed, Removed bool
}

// Write writes the export for o to w.
func Write(w io.Writer, o Options) error {
	g, err := newGen(o)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	line := make([]byte, 0, 512)
	for i, h := range Header {
		if i > 0 {
			line = append(line, ',')
		}
		line = append(line, h...)
	}
	line = g.eol(line)
	if _, err := bw.Write(line); err != nil {
		return err
	}
	err = g.each(func(i int, changed bool) error {
		line = g.eol(g.appendRow(line[:0], i, changed))
		_, err := bw.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// People calls fn for every person of the day's file, in file order.
func People(o Options, fn func(Person)) error {
	g, err := newGen(o)
	if err != nil {
		return err
	}
	return g.each(func(i int, changed bool) error {
		fn(Person{Index: i, Email: string(g.appendEmail(nil, i)), Changed: changed})
		return nil
	})
}

type gen struct {
	o       Options
	seed    uint64
	a, b    uint64 // the permutation i -> (a*i+b) mod Rows that picks Day 1's changes
	changes Changes
}

func newGen(o Options) (*gen, error) {
	if o.Rows < 0 {
		return nil, errors.New("gen: negative row count")
	}
	if o.Day != 0 && o.Day != 1 {
		return nil, errors.New("gen: day must be 0 or 1")
	}
	if o.Churn < 0 || o.Churn > 100 {
		return nil, errors.New("gen: churn must be between 0 and 100 percent")
	}
	g := &gen{o: o, seed: uint64(o.Seed), changes: ChangesOf(o)}
	if n := uint64(o.Rows); n > 1 {
		g.a = mix(g.seed, 1, 0)%n | 1
		for gcd(g.a, n) != 1 {
			g.a = (g.a + 2) % n
		}
		g.b = mix(g.seed, 2, 0) % n
	}
	return g, nil
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// fate says what Day 1 does to Day 0 person i.
func (g *gen) fate(i int) (removed, changed bool) {
	if g.o.Rows < 2 {
		return false, false
	}
	p := int((g.a*uint64(i) + g.b) % uint64(g.o.Rows))
	return p < g.changes.Removed, p >= g.changes.Removed && p < g.changes.Removed+g.changes.Changed
}

func (g *gen) each(fn func(i int, changed bool) error) error {
	for i := 0; i < g.o.Rows; i++ {
		removed, changed := false, false
		if g.o.Day == 1 {
			removed, changed = g.fate(i)
		}
		if removed {
			continue
		}
		if err := fn(i, changed); err != nil {
			return err
		}
	}
	if g.o.Day == 1 {
		for i := g.o.Rows; i < g.o.Rows+g.changes.Added; i++ {
			if err := fn(i, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// mix is SplitMix64 over the seed, a salt and an index: a cheap hash with
// good spread that gives every value of every person without state.
func mix(seed, salt uint64, i int) uint64 {
	z := seed ^ salt*0x9E3779B97F4A7C15 ^ uint64(i)*0xBF58476D1CE4E5B9
	z += 0x9E3779B97F4A7C15
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (g *gen) pick(list []string, salt uint64, i int) string {
	return list[mix(g.seed, salt, i)%uint64(len(list))]
}

func (g *gen) name(i int) (first, last name) {
	return firstNames[mix(g.seed, 10, i)%uint64(len(firstNames))],
		lastNames[mix(g.seed, 11, i)%uint64(len(lastNames))]
}

func (g *gen) appendEmail(b []byte, i int) []byte {
	first, last := g.name(i)
	b = append(b, first.ascii...)
	b = append(b, '.')
	b = append(b, last.ascii...)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(100000+i), 10)
	return append(b, "@mail.northwind-traders.example"...)
}

func (g *gen) appendRow(b []byte, i int, changed bool) []byte {
	first, last := g.name(i)
	dept := g.pick(departments, 20, i)
	title := g.pick(titles, 21, i)
	if changed {
		// A change of title, and for half of them a move to another department.
		for t := uint64(100); title == g.pick(titles, 21, i); t++ {
			title = g.pick(titles, t, i)
		}
		if mix(g.seed, 22, i)%2 == 0 {
			for t := uint64(200); dept == g.pick(departments, 20, i); t++ {
				dept = g.pick(departments, t, i)
			}
		}
	}
	loc := locations[mix(g.seed, 23, i)%uint64(len(locations))]
	b = append(b, 'E')
	b = strconv.AppendInt(b, int64(1000000+i), 10)
	b = append(b, ',')
	b = append(b, first.display...)
	b = append(b, ',')
	b = append(b, last.display...)
	b = append(b, ',')
	b = g.appendEmail(b, i)
	b = append(b, ',')
	if mix(g.seed, 24, i)%40 == 0 {
		b = append(b, "On Leave"...)
	} else {
		b = append(b, "Active"...)
	}
	b = append(b, ',')
	b = append(b, dept...)
	b = append(b, ',')
	b = append(b, g.pick(divisions, 25, i)...)
	b = append(b, ",CC-"...)
	b = strconv.AppendInt(b, int64(1000+mix(g.seed, 26, i)%9000), 10)
	b = append(b, ",All Staff;"...)
	b = append(b, dept...)
	b = append(b, ';')
	b = append(b, loc.city...)
	b = append(b, " Office,"...)
	b = append(b, title...)
	b = append(b, ',')
	if i > 0 {
		b = g.appendEmail(b, i/10)
	}
	b = append(b, ',')
	b = appendDate(b, int(mix(g.seed, 27, i)%7300))
	b = append(b, ',')
	b = append(b, g.pick(workerTypes, 28, i)...)
	b = append(b, ',')
	b = append(b, loc.lang...)
	b = append(b, ',')
	b = append(b, loc.city...)
	b = append(b, ',')
	return append(b, loc.country...)
}

// eol ends a line.
func (g *gen) eol(b []byte) []byte {
	if g.o.CRLF {
		b = append(b, '\r')
	}
	return append(b, '\n')
}

// appendDate appends the date days after 2005-01-01 as YYYY-MM-DD.
func appendDate(b []byte, days int) []byte {
	y, m, d := 2005, 1, 1+days
	for {
		n := 365
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			n = 366
		}
		if d <= n {
			break
		}
		d -= n
		y++
	}
	for {
		n := monthDays[m]
		if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			n = 29
		}
		if d <= n {
			break
		}
		d -= n
		m++
	}
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-', byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
	return b
}

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
