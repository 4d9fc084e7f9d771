package main

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"muster/schema"
	"muster/store"
)

// configFlags are -config and -org for the command-line verbs: the config
// file `muster serve` runs with, so a verb sees the same data directory,
// organisations and sources (with their settings) as the daemon.
type configFlags struct {
	e    *env
	fs   *flag.FlagSet
	path string
	org  string
	// cfg is the loaded config; nil when no file was named.
	cfg    *Config
	loaded bool
}

// addConfigFlags registers -config (default $MUSTER_CONFIG) and -org.
func addConfigFlags(fs *flag.FlagSet, e *env) *configFlags {
	cf := addConfigFlag(fs, e)
	fs.StringVar(&cf.org, "org", "", "organisation (default: the config's organisation of the source named, or its only one; else "+schema.DefaultOrg+")")
	return cf
}

func addConfigFlag(fs *flag.FlagSet, e *env) *configFlags {
	cf := &configFlags{e: e, fs: fs}
	fs.StringVar(&cf.path, "config", e.getenv("MUSTER_CONFIG"),
		"config file (TOML) whose data_dir, organisations and sources to use; env MUSTER_CONFIG")
	return cf
}

// load reads the config file, if one is named; dataDir, when set,
// overrides its data_dir (as `serve -data` does). It then resolves -org
// for the source named (which may be ""): an explicit -org wins; else the
// organisation the config puts that source in; else the config's only
// organisation, or the default one. The first call decides.
func (cf *configFlags) load(dataDir, source string) error {
	if cf.loaded {
		return nil
	}
	if err := cf.readFile(dataDir); err != nil {
		return err
	}
	cf.loaded = true
	if cf.org != "" {
		return nil
	}
	org, err := cf.defaultOrg(source)
	cf.org = org
	return err
}

// readFile loads the config file once, if one is named.
func (cf *configFlags) readFile(dataDir string) error {
	if cf.cfg != nil || cf.path == "" {
		return nil
	}
	c, err := loadConfig(cf.e, cf.path, dataDir)
	if err != nil {
		return err
	}
	cf.cfg = c
	return nil
}

// defaultOrg is the organisation a command means when -org is not given.
func (cf *configFlags) defaultOrg(source string) (string, error) {
	c := cf.cfg
	if c == nil {
		return schema.DefaultOrg, nil
	}
	if source != "" {
		var orgs []string
		for _, s := range c.Sources {
			if s.Name == source {
				orgs = append(orgs, s.Org)
			}
		}
		switch len(orgs) {
		case 1:
			return orgs[0], nil
		case 0:
		default:
			return "", usagef("source %q is in several organisations of %s (%s): name one with -org", source, c.path, strings.Join(orgs, ", "))
		}
	}
	switch names := c.orgNames(); {
	case len(names) == 1:
		return names[0], nil
	case slices.Contains(names, schema.DefaultOrg):
		return schema.DefaultOrg, nil
	}
	return "", usagef("%s has several organisations (%s): name one with -org", c.path, strings.Join(c.orgNames(), ", "))
}

// source returns the config's settings of the source named in the
// resolved organisation, or nil when there is no config or it does not
// list that source.
func (cf *configFlags) source(name string) *SourceConf {
	if cf.cfg == nil {
		return nil
	}
	for i := range cf.cfg.Sources {
		if s := &cf.cfg.Sources[i]; s.Name == name && s.Org == cf.org {
			return s
		}
	}
	return nil
}

// set returns the names of the flags given on the command line, so that a
// flag given explicitly can win over the config.
func set(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// decodeFlags are -delimiter and -day-first: how a file is read. Given
// explicitly they win over the source's settings in the config.
type decodeFlags struct {
	fs       *flag.FlagSet
	delim    string
	dayFirst bool
}

func addDecodeFlags(fs *flag.FlagSet) *decodeFlags {
	d := &decodeFlags{fs: fs}
	fs.StringVar(&d.delim, "delimiter", "", "the column delimiter: , ; | tab or one character (default: the source's delimiter in the config, else detected)")
	fs.BoolVar(&d.dayFirst, "day-first", false, "read dates such as 03/04/2024 as day first, 3 April (default: the source's day_first in the config)")
	return d
}

// options returns the decode options of conf (nil: none configured) with
// the flags given on the command line on top. Header overrides come from
// the config only.
func (d *decodeFlags) options(conf *SourceConf) (schema.DecodeOptions, error) {
	var opts schema.DecodeOptions
	if conf != nil {
		opts = conf.decodeOptions()
	}
	given := set(d.fs)
	if given["delimiter"] {
		opts.Delimiter = 0
		if d.delim != "" {
			r, err := parseDelimiter(d.delim)
			if err != nil {
				return opts, err
			}
			opts.Delimiter = r
		}
	}
	if given["day-first"] {
		opts.DayFirst = d.dayFirst
	}
	return opts, nil
}

// parseDelimiter reads -delimiter: a name (tab, comma, semicolon, pipe) or
// one character, by the same rule as a source's delimiter setting.
func parseDelimiter(s string) (rune, error) {
	switch strings.ToLower(s) {
	case "tab":
		return '\t', nil
	case "comma":
		return ',', nil
	case "semicolon":
		return ';', nil
	case "pipe":
		return '|', nil
	}
	d, err := (&SourceConf{Delimiter: s}).delimiter()
	if err != nil {
		return 0, usagef("-delimiter %v", err)
	}
	return d, nil
}

// fileSourceConf checks that a source of the config takes files: a WorkOS
// directory is pulled, and a CSV must never stand in for it.
func fileSourceConf(conf *SourceConf) error {
	if conf != nil && conf.Kind == string(store.KindWorkOS) {
		return schema.Errorf(schema.EInvalid, "source %s/%s is a WorkOS directory in the config: it is pulled (muster sources sync), not fed files", conf.Org, conf.Name)
	}
	return nil
}

// describe says in one line what the config sets for how a source's files
// are read and judged, for `muster check`.
func (c *Config) describe(conf *SourceConf) string {
	opts, maxInvalidPct := conf.decodeOptions(), c.sourceConfig(conf).MaxInvalidPercent
	var parts []string
	if opts.Delimiter != 0 {
		parts = append(parts, fmt.Sprintf("delimiter %q", opts.Delimiter))
	}
	if opts.DayFirst {
		parts = append(parts, "day first")
	}
	if n := len(opts.Columns); n > 0 {
		parts = append(parts, fmt.Sprintf("%d column override(s)", n))
	}
	if maxInvalidPct < 0 {
		parts = append(parts, "no invalid-row limit")
	} else {
		parts = append(parts, fmt.Sprintf("at most %g%% invalid rows", maxInvalidPct))
	}
	return fmt.Sprintf("org %s, settings from %s: %s", conf.Org, c.path, strings.Join(parts, ", "))
}
