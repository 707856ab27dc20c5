package dts

import (
	"fmt"
	"log/slog"

	"github.com/microsoft/durabletask-go/backend"
)

// Logger adapts a slog.Logger to durabletask-go's logger interface, so the
// library's messages come out as the same structured JSON as ours.
func Logger(l *slog.Logger) backend.Logger { return sloggerAdapter{l} }

type sloggerAdapter struct{ l *slog.Logger }

func (a sloggerAdapter) Debug(v ...any)                 { a.l.Debug(fmt.Sprint(v...)) }
func (a sloggerAdapter) Debugf(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a sloggerAdapter) Info(v ...any)                  { a.l.Info(fmt.Sprint(v...)) }
func (a sloggerAdapter) Infof(format string, v ...any)  { a.l.Info(fmt.Sprintf(format, v...)) }
func (a sloggerAdapter) Warn(v ...any)                  { a.l.Warn(fmt.Sprint(v...)) }
func (a sloggerAdapter) Warnf(format string, v ...any)  { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a sloggerAdapter) Error(v ...any)                 { a.l.Error(fmt.Sprint(v...)) }
func (a sloggerAdapter) Errorf(format string, v ...any) { a.l.Error(fmt.Sprintf(format, v...)) }
