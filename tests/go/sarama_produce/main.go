// sarama_produce: produce one record per key with sarama's default partitioner, for the
// test that checks evmon replay --partitioner fnv1a puts each key where sarama does.
//
//	sarama_produce -bootstrap 127.0.0.1:9092 -topic orders key1 key2 ...
//
// Prints one line per record: "<key>\t<partition>\t<offset>". The partitioner is left at
// sarama.NewConfig()'s default (NewHashPartitioner): that default is what is tested.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

func main() {
	bootstrap := flag.String("bootstrap", "127.0.0.1:9092", "Kafka bootstrap servers, comma separated")
	topic := flag.String("topic", "", "topic to produce to")
	flag.Parse()
	if *topic == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: sarama_produce -bootstrap HOST:PORT -topic T KEY...")
		os.Exit(2)
	}
	config := sarama.NewConfig()
	config.Version = sarama.V3_0_0_0
	config.Producer.RequiredAcks = sarama.WaitForAll
	config.Producer.Return.Successes = true
	// A topic the test created a moment ago may have no leader yet: retry, not fail.
	config.Producer.Retry.Max = 20
	config.Producer.Retry.Backoff = 250 * time.Millisecond
	config.Metadata.Retry.Max = 20
	config.Metadata.Retry.Backoff = 250 * time.Millisecond
	producer, err := sarama.NewSyncProducer(strings.Split(*bootstrap, ","), config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sarama_produce: connect:", err)
		os.Exit(1)
	}
	defer producer.Close()
	for _, key := range flag.Args() {
		msg := &sarama.ProducerMessage{
			Topic: *topic,
			Key:   sarama.StringEncoder(key),
			Value: sarama.StringEncoder("from-sarama:" + key),
		}
		partition, offset, err := producer.SendMessage(msg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sarama_produce: send:", err)
			os.Exit(1)
		}
		fmt.Printf("%s\t%d\t%d\n", key, partition, offset)
	}
}
