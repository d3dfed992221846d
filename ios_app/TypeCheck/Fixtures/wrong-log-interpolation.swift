// expect: cannot convert value of type 'String' to expected argument type 'OSLogMessage'
// os.Logger takes an interpolated OSLogMessage, never a String built beforehand.
import os

func report(_ logger: Logger, _ text: String) {
    let message = "job finished: " + text
    logger.info(message)
}
