package kafka

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/IBM/sarama"
)

// RouteLogs sends Sarama's log lines through logger at DEBUG: they are the
// client's own chatter (reconnects, rebalances); what matters to operators
// reaches them as errors from the calls that failed.
func RouteLogs(logger *slog.Logger) { sarama.Logger = saramaLog{logger} }

type saramaLog struct{ logger *slog.Logger }

func (l saramaLog) log(s string) {
	l.logger.Debug("sarama: "+strings.TrimSpace(s), "component", "sarama")
}

func (l saramaLog) Print(v ...any)                 { l.log(fmt.Sprint(v...)) }
func (l saramaLog) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l saramaLog) Println(v ...any)               { l.log(fmt.Sprintln(v...)) }
