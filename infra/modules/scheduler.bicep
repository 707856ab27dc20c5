// The Durable Task Scheduler and the task hub the handler and the worker
// share.

@description('Name of the scheduler.')
param name string

@description('Azure region of the scheduler.')
param location string

@description('Tags for the scheduler.')
param tags object

@description('Name of the task hub.')
param taskHubName string

@description('Consumption bills per action; Dedicated bills a fixed monthly price per capacity unit.')
@allowed([
  'Consumption'
  'Dedicated'
])
param skuName string

@description('Capacity units of a Dedicated scheduler; ignored for Consumption.')
@minValue(1)
param capacity int = 1

@description('CIDR ranges allowed to reach the scheduler. An empty list denies everyone, hence the minimum length.')
@minLength(1)
param ipAllowlist array

var dedicatedSku = {
  name: 'Dedicated'
  capacity: capacity
}

var consumptionSku = {
  name: 'Consumption'
}

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    ipAllowlist: ipAllowlist
    sku: skuName == 'Dedicated' ? dedicatedSku : consumptionSku
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

output schedulerName string = scheduler.name
output endpoint string = scheduler.properties.endpoint
output taskHubName string = taskHub.name
output dashboardUrl string = taskHub.properties.dashboardUrl
