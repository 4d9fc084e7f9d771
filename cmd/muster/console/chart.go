package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"
)

// chartDays is how many days the Overview's charts cover.
const chartDays = 90

// day is one day of the charts, in the viewer's time zone.
type day struct {
	Date         time.Time
	Size         int64 // the audience at the end of the day
	SizeKnown    bool
	Joined, Left int64
	Known        bool // every drop of the day counted the audience
}

// series adds up applied drops into days: who joined and left each day,
// and the audience at the end of each day, counted back from the audience
// now. A day is unknown from the last drop recorded before reports counted
// the audience backwards.
func series(points []dropPoint, active int64, now time.Time, loc *time.Location) []day {
	y, m, d := now.In(loc).Date()
	first := time.Date(y, m, d, 0, 0, 0, 0, loc).AddDate(0, 0, -(chartDays - 1))
	days := make([]day, chartDays)
	for i := range days {
		days[i] = day{Date: first.AddDate(0, 0, i), Known: true}
	}
	index := func(t time.Time) int {
		ty, tm, td := t.In(loc).Date()
		return int(time.Date(ty, tm, td, 0, 0, 0, 0, loc).Sub(first).Hours()+12) / 24
	}
	for _, p := range points {
		i := index(p.at)
		if i < 0 || i >= chartDays {
			continue
		}
		days[i].Joined += p.joined
		days[i].Left += p.left
		days[i].Known = days[i].Known && p.known
	}
	size, known := active, true
	for i := chartDays - 1; i >= 0; i-- {
		days[i].Size, days[i].SizeKnown = size, known
		size -= days[i].Joined - days[i].Left
		known = known && days[i].Known
	}
	return days
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH = 900, 220
	padL, padR     = 64, 12
	padT, padB     = 12, 28
)

// sizeChart draws the audience size per day as a line.
func sizeChart(days []day) template.HTML {
	var hi, lo int64 = 0, -1
	for _, d := range days {
		if !d.SizeKnown {
			continue
		}
		hi = max(hi, d.Size)
		if lo < 0 || d.Size < lo {
			lo = d.Size
		}
	}
	if lo < 0 {
		return emptyChart("Audience size per day: no data for these 90 days")
	}
	lo = lo - (hi-lo)/10
	if lo < 0 || hi == lo {
		lo = 0
	}
	hi = max(hi, lo+1)
	var b strings.Builder
	openChart(&b, fmt.Sprintf("Audience size per day, last %d days: from %s to %s", chartDays, num(firstKnown(days)), num(days[len(days)-1].Size)))
	axis(&b, lo, hi, days)
	var pts []string
	for i, d := range days {
		if !d.SizeKnown {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), yOf(d.Size, lo, hi)))
	}
	fmt.Fprintf(&b, `<polyline class="line" points="%s"/>`, strings.Join(pts, " "))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// changesChart draws who joined (above the axis) and left (below) per day.
func changesChart(days []day) template.HTML {
	var hi int64 = 1
	for _, d := range days {
		hi = max(hi, d.Joined, d.Left)
	}
	var joined, left int64
	for _, d := range days {
		joined += d.Joined
		left += d.Left
	}
	var b strings.Builder
	openChart(&b, fmt.Sprintf("People who joined and left the audience per day, last %d days: %s joined, %s left", chartDays, num(joined), num(left)))
	axis(&b, -hi, hi, days)
	w := float64(chartW-padL-padR)/chartDays - 1
	zero := yOf(0, -hi, hi)
	for i, d := range days {
		if d.Joined > 0 {
			top := yOf(d.Joined, -hi, hi)
			fmt.Fprintf(&b, `<rect class="joined" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s joined</title></rect>`,
				x(i)-w/2, top, w, zero-top, d.Date.Format("2006-01-02"), num(d.Joined))
		}
		if d.Left > 0 {
			bottom := yOf(-d.Left, -hi, hi)
			fmt.Fprintf(&b, `<rect class="left" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s left</title></rect>`,
				x(i)-w/2, zero, w, bottom-zero, d.Date.Format("2006-01-02"), num(d.Left))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func firstKnown(days []day) int64 {
	for _, d := range days {
		if d.SizeKnown {
			return d.Size
		}
	}
	return 0
}

func openChart(b *strings.Builder, label string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg"><title>%s</title>`,
		chartW, chartH, template.HTMLEscapeString(label), template.HTMLEscapeString(label))
}

func emptyChart(label string) template.HTML {
	var b strings.Builder
	openChart(&b, label)
	fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d" text-anchor="middle">%s</text></svg>`, chartW/2, chartH/2,
		template.HTMLEscapeString(label))
	return template.HTML(b.String())
}

// axis draws the horizontal grid with its values and a date every 15 days.
func axis(b *strings.Builder, lo, hi int64, days []day) {
	for k := 0; k <= 4; k++ {
		v := lo + (hi-lo)*int64(k)/4
		y := yOf(v, lo, hi)
		fmt.Fprintf(b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, padL, y, chartW-padR, y)
		label := v
		if label < 0 {
			label = -label
		}
		fmt.Fprintf(b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, num(label))
	}
	for i := 0; i < len(days); i += 15 {
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), chartH-8, days[i].Date.Format("Jan 2"))
	}
}

func x(i int) float64 {
	step := float64(chartW-padL-padR) / chartDays
	return float64(padL) + step*(float64(i)+0.5)
}

func yOf(v, lo, hi int64) float64 {
	h := float64(chartH - padT - padB)
	return float64(padT) + h*(1-float64(v-lo)/float64(hi-lo))
}
