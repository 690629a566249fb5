package loadtest

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chartPercentiles are the x positions of the latency chart.
var chartPercentiles = []float64{50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.9}

// Series is one line of the latency chart.
type Series struct {
	Name string
	Lat  Latencies
}

// LatencyChart writes a PNG of publish→effect latency (ms) against percentile, one line
// per service, to path.
func LatencyChart(path, title string, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "publish → effect latency (ms)"
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	palette := []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {120, 120, 120, 255}}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	for i, s := range series {
		if len(s.Lat) == 0 {
			continue
		}
		pts := make(plotter.XYs, len(chartPercentiles))
		for j, pc := range chartPercentiles {
			pts[j].X = pc
			pts[j].Y = float64(s.Lat.Percentile(pc).Microseconds()) / 1000
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %w", s.Name, err)
		}
		c := palette[i%len(palette)]
		line.Color, points.Color = c, c
		points.Shape = shapes[i%len(shapes)]
		line.Width = vg.Points(1.5)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
